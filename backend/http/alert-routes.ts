/**
 * `/v1/alerts`: alerts, history, rules, silences and receivers (docs/ALERTING.md).
 * Reads need `read`, every change `admin` (audited). The receiver list shows
 * `read` keys each URL's origin only (its path or query often carries a
 * token); admin keys see the whole URL.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { Alerting } from "../alerts/alerting.ts";
import { formatDuration } from "../alerts/duration.ts";
import { FIELD_LIMITS } from "../alerts/limits.ts";
import type { AlertRule, OutboxStatus } from "../alerts/model.ts";
import {
  alertJson,
  notificationJson,
  receiverJson,
  redactedReceiverJson,
  ruleJson,
  silenceJson,
  transitionJson,
} from "../alerts/render.ts";

const OUTBOX_STATUSES: readonly OutboxStatus[] = ["waiting", "pending", "sent", "dead", "skipped"];
import type { Clock } from "../clock.ts";
import {
  ForbiddenError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from "../errors.ts";
import type { FieldError } from "../../shared/event-schema.ts";
import type { AppEnv } from "./app-env.ts";
import { parseTime } from "./query-params.ts";
import { type AuthDeps, requireScope } from "./require-scope.ts";

export interface AlertRoutesDeps {
  auth: AuthDeps;
  alerting: Alerting;
  clock: Clock;
  clientAddress: (c: Context) => string | null;
}

export function alertRoutes(deps: AlertRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { alerting, clock } = deps;
  const service = alerting.service;
  const read = requireScope("read", deps.auth);
  const admin = requireScope("admin", deps.auth);
  const readOrAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
    try {
      await read(c, () => Promise.resolve());
    } catch (error) {
      if (!(error instanceof ForbiddenError)) throw error;
      await admin(c, () => Promise.resolve()).catch((e) => {
        throw e instanceof ForbiddenError ? error : e;
      });
    }
    await next();
  };
  const actor = (c: Context<AppEnv>) => ({ id: c.get("principal").keyId, address: deps.clientAddress(c) });

  app.get("/", read, (c) => {
    const now = clock.now();
    const alerts = [...service.catalog.allInstances()]
      .filter((i) => i.state === "pending" || i.state === "firing")
      .sort((a, b) => (a.activeAt! - b.activeAt!) || (a.fingerprint < b.fingerprint ? -1 : 1))
      .map((i) =>
        alertJson(i, service.catalog.rules.get(i.ruleId), service.catalog.silencedBy(i.labels, now) !== null)
      );
    return c.json({ alerts });
  });

  app.get("/history", read, async (c) => {
    const errors: FieldError[] = [];
    const q = c.req.query();
    const limit = q.limit === undefined ? 100 : /^\d{1,4}$/.test(q.limit) ? Number(q.limit) : NaN;
    if (!(limit >= 1 && limit <= 1000)) {
      errors.push({ field: "limit", message: "limit must be an integer from 1 to 1000" });
    }
    if (q.before !== undefined && !/^\d{1,16}$/.test(q.before)) {
      errors.push({ field: "before", message: "before must be the next cursor of a previous page" });
    }
    if (q.fingerprint !== undefined && !/^[0-9a-f]{16}$/.test(q.fingerprint)) {
      errors.push({ field: "fingerprint", message: "fingerprint must be 16 hex digits" });
    }
    if (q.ruleId !== undefined && !/^rul_[0-9a-f]{16}$/.test(q.ruleId)) {
      errors.push({ field: "ruleId", message: "ruleId must be a rule id (rul_ and 16 hex digits)" });
    }
    if (errors.length) throw new ValidationError("Invalid query parameters", errors);
    const page = await service.history({
      ruleId: q.ruleId,
      fingerprint: q.fingerprint,
      limit,
      beforeSeq: q.before === undefined ? undefined : Number(q.before),
    });
    return c.json({ history: page.history.map(transitionJson), next: page.next });
  });

  const rule = (r: AlertRule) => ruleJson(r, alerting.evaluator.status(r.id));
  app.get("/rules", read, (c) => c.json({ rules: service.listRules().map(rule) }));
  app.post("/rules/dry-run", read, async (c) => {
    const body = await readJson(c.req.raw);
    const obj = (typeof body === "object" && body !== null && !Array.isArray(body) ? body : {}) as Record<
      string,
      unknown
    >;
    const now = clock.now();
    const errors: FieldError[] = [];
    const time = (field: string) =>
      typeof obj[field] === "number"
        ? parseTime(String(obj[field]), field, now, errors)
        : typeof obj[field] === "string"
        ? parseTime(obj[field] as string, field, now, errors)
        : void errors.push({ field, message: `${field} is required (ISO-8601, epoch ms or now-<n><unit>)` });
    const from = time("from");
    const to = time("to");
    if (from !== undefined && to !== undefined && from >= to) {
      errors.push({ field: "to", message: "to must be after from" });
    }
    const extra = Object.keys(obj).filter((k) => !["rule", "from", "to"].includes(k));
    if (extra.length) {
      errors.push({ field: extra.join(","), message: `unknown field(s): ${extra.join(", ")}` });
    }
    if (errors.length) throw new ValidationError("Invalid dry run", errors);
    const input = service.parseRule(obj.rule, "rule");
    const replayed: AlertRule = { id: "rul_dryrun0000000000", ...input, createdAt: now, updatedAt: now };
    const result = await alerting.dryRun(replayed, { from: from!, to: to! });
    return c.json({
      evaluatedEvery: formatDuration(result.stepMs),
      truncated: result.truncated,
      transitions: result.transitions.map((t) => ({ ...t, at: new Date(t.at).toISOString() })),
    });
  });
  app.get("/rules/:id", read, (c) => c.json(rule(service.getRule(c.req.param("id")))));
  app.post("/rules", admin, async (c) => {
    return c.json(rule(await service.createRule(await readJson(c.req.raw), actor(c))), 201);
  });
  app.put("/rules/:id", admin, async (c) => {
    return c.json(rule(await service.replaceRule(c.req.param("id"), await readJson(c.req.raw), actor(c))));
  });
  app.delete("/rules/:id", admin, async (c) => {
    await service.deleteRule(c.req.param("id"), actor(c));
    return c.body(null, 204);
  });

  app.get("/silences", read, (c) => {
    const now = clock.now();
    return c.json({ silences: service.listSilences().map((s) => silenceJson(s, now)) });
  });
  app.post("/silences", admin, async (c) => {
    const silence = await service.createSilence(await readJson(c.req.raw), actor(c));
    return c.json(silenceJson(silence, clock.now()), 201);
  });
  app.delete("/silences/:id", admin, async (c) => {
    await service.expireSilence(c.req.param("id"), actor(c));
    return c.body(null, 204);
  });

  // The outbox, for operators: what was sent, what waits, and what was given up (`dead`).
  app.get("/notifications", admin, async (c) => {
    const status = c.req.query("status") ?? "dead";
    const limitRaw = c.req.query("limit") ?? "100";
    const errors: FieldError[] = [];
    if (!OUTBOX_STATUSES.includes(status as OutboxStatus)) {
      errors.push({ field: "status", message: `status must be one of ${OUTBOX_STATUSES.join(", ")}` });
    }
    const limit = /^\d{1,4}$/.test(limitRaw) ? Number(limitRaw) : NaN;
    if (!(limit >= 1 && limit <= 1000)) {
      errors.push({ field: "limit", message: "limit must be an integer from 1 to 1000" });
    }
    if (errors.length) throw new ValidationError("Invalid query parameters", errors);
    const items = await alerting.store.listOutbox({ statuses: [status as OutboxStatus], limit });
    return c.json({ notifications: items.map(notificationJson) });
  });

  app.get("/receivers", readOrAdmin, (c) => {
    const full = c.get("principal").scopes.includes("admin");
    return c.json({ receivers: service.listReceivers().map(full ? receiverJson : redactedReceiverJson) });
  });
  app.post("/receivers", admin, async (c) => {
    const receiver = await service.createReceiver(await readJson(c.req.raw), actor(c));
    return c.json(receiverJson(receiver), 201);
  });
  app.put("/receivers/:id", admin, async (c) => {
    const receiver = await service.replaceReceiver(c.req.param("id"), await readJson(c.req.raw), actor(c));
    return c.json(receiverJson(receiver));
  });
  app.delete("/receivers/:id", admin, async (c) => {
    await service.deleteReceiver(c.req.param("id"), actor(c));
    return c.body(null, 204);
  });
  return app;
}

/** The JSON body, at most `FIELD_LIMITS.maxBodyBytes`. */
async function readJson(request: Request): Promise<unknown> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    throw new UnsupportedMediaTypeError("Content-Type must be application/json");
  }
  const max = FIELD_LIMITS.maxBodyBytes;
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > max) throw new PayloadTooLargeError(`Body larger than ${max} bytes`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    // Streamed with a running count, so a chunked body without Content-Length is bounded too.
    for await (const chunk of request.body) {
      size += chunk.length;
      if (size > max) throw new PayloadTooLargeError(`Body larger than ${max} bytes`);
      chunks.push(chunk);
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) bytes.set(chunk, offset), offset += chunk.length;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new ValidationError("Request body is not valid JSON", [{
      field: "body",
      message: "malformed JSON",
    }]);
  }
}
