/**
 * `/v1/admin`: API keys and the audit log. Every route needs the `admin` scope.
 */
import { type Context, Hono } from "hono";
import { z } from "zod";
import { createApiKey, listApiKeys, revokeApiKey, setApiKeyRateLimit } from "../admin/key-admin.ts";
import { ALL_SCOPES, type Scope } from "../auth/api-keys.ts";
import type { Clock } from "../clock.ts";
import { ValidationError } from "../errors.ts";
import type { Store } from "../store/store.ts";
import type { AppEnv } from "./app-env.ts";
import { parseTime } from "./query-params.ts";
import { type AuthDeps, requireScope } from "./require-scope.ts";

export interface AdminRoutesDeps {
  auth: AuthDeps;
  store: Store;
  clock: Clock;
  /** The client's address, where the runtime adapter can tell. */
  clientAddress: (c: Context) => string | null;
}

const MAX_JSON_BYTES = 16 * 1024;
// deno-lint-ignore no-control-regex -- refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const createKeyBody = z.strictObject({
  name: z.string({ error: "name must be a string" }).min(1, { error: "name must not be empty" })
    .max(100, { error: "name must be at most 100 characters" })
    .refine((s) => !CONTROL.test(s), { error: "name must not contain control characters" }),
  scopes: z.array(
    z.enum(ALL_SCOPES as [Scope, ...Scope[]], { error: `scopes must be among ${ALL_SCOPES.join(", ")}` }),
    {
      error: "scopes must be an array",
    },
  ).min(1, { error: "scopes must name at least one scope" }).max(ALL_SCOPES.length),
  expiresAt: z.union([z.number().int(), z.string().max(40)], {
    error: "expiresAt must be epoch ms or ISO-8601",
  })
    .nullable().optional(),
}, { error: (i) => (i.code === "unrecognized_keys" ? undefined : "body must be a JSON object") });

const patchKeyBody = z.strictObject({
  rateLimit: z.strictObject({
    eventsPerSecond: z.number({ error: "eventsPerSecond must be a number" }).positive({
      error: "eventsPerSecond must be positive",
    })
      .max(1e9),
    burst: z.number({ error: "burst must be an integer" }).int({ error: "burst must be an integer" })
      .min(1, { error: "burst must be at least 1" }).max(1e9),
  }, { error: "rateLimit must be an object {eventsPerSecond, burst} or null" }).nullable(),
}, { error: (i) => (i.code === "unrecognized_keys" ? undefined : "body must be a JSON object") });

/** Field errors of a failed zod parse, in the error envelope's shape. */
export function zodErrors(issues: z.core.$ZodIssue[]) {
  return issues.map((i) => ({
    field: i.code === "unrecognized_keys" ? i.keys.join(",") : i.path.join(".") || "body",
    message: i.code === "unrecognized_keys" ? `unknown field(s): ${i.keys.join(", ")}` : i.message,
  }));
}

export function adminRoutes(deps: AdminRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", requireScope("admin", deps.auth));
  const actor = (c: Context<AppEnv>) => ({ id: c.get("principal").keyId, address: deps.clientAddress(c) });

  app.post("/keys", async (c) => {
    const body = await readJson(c.req.raw);
    const parsed = createKeyBody.safeParse(body);
    const errors = parsed.success ? [] : zodErrors(parsed.error.issues);
    const raw = (body as { expiresAt?: unknown } | null)?.expiresAt;
    const expiresAt = typeof raw === "number"
      ? raw
      : typeof raw === "string"
      ? parseTime(raw, "expiresAt", deps.clock.now(), errors) ?? null
      : null;
    if (errors.length || !parsed.success) throw new ValidationError("Invalid key", errors);
    const created = await createApiKey(deps, {
      name: parsed.data.name,
      scopes: [...new Set(parsed.data.scopes)],
      expiresAt,
      actor: actor(c),
    });
    // The secret is shown once: no cache (browser, proxy) may keep a copy of it.
    return c.json({ status: "success", data: { ...created.key, key: created.secret } }, 201, {
      "Cache-Control": "no-store",
    });
  });

  app.get("/keys", async (c) => c.json({ status: "success", data: { keys: await listApiKeys(deps) } }));

  app.patch("/keys/:id", async (c) => {
    const parsed = patchKeyBody.safeParse(await readJson(c.req.raw));
    if (!parsed.success) throw new ValidationError("Invalid key change", zodErrors(parsed.error.issues));
    const key = await setApiKeyRateLimit(deps, {
      id: c.req.param("id"),
      rateLimit: parsed.data.rateLimit,
      actor: actor(c),
    });
    deps.auth.cache?.forget(key.id);
    return c.json({ status: "success", data: key });
  });

  app.delete("/keys/:id", async (c) => {
    const key = await revokeApiKey(deps, { id: c.req.param("id"), actor: actor(c) });
    deps.auth.cache?.forget(key.id);
    return c.json({ status: "success", data: key });
  });

  app.get("/audit", async (c) => {
    const errors = [];
    const limitRaw = c.req.query("limit") ?? "100";
    const limit = /^\d{1,4}$/.test(limitRaw) ? Number(limitRaw) : NaN;
    if (!(limit >= 1 && limit <= 1000)) {
      errors.push({ field: "limit", message: "must be an integer from 1 to 1000" });
    }
    const cursor = c.req.query("cursor");
    if (cursor !== undefined && !/^\d{1,16}$/.test(cursor)) {
      errors.push({ field: "cursor", message: "cursor is not valid (pass nextCursor from a previous page)" });
    }
    if (errors.length) throw new ValidationError("Invalid query parameters", errors);
    const entries = await deps.store.listAudit({
      limit: limit + 1,
      beforeSeq: cursor ? Number(cursor) : undefined,
    });
    const page = entries.slice(0, limit);
    return c.json({
      status: "success",
      data: {
        entries: page.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
        nextCursor: entries.length > limit ? String(page[page.length - 1].seq) : null,
      },
    });
  });

  return app;
}

/** Reads a small JSON request body (Content-Type application/json, at most 16 KiB); 400 otherwise. */
export async function readJson(request: Request): Promise<unknown> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    throw new ValidationError("Content-Type must be application/json", [{
      field: "content-type",
      message: "must be application/json",
    }]);
  }
  const text = await request.text();
  if (text.length > MAX_JSON_BYTES) {
    throw new ValidationError("Body too large", [{
      field: "body",
      message: `at most ${MAX_JSON_BYTES} bytes`,
    }]);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError("Request body is not valid JSON", [{
      field: "body",
      message: "malformed JSON",
    }]);
  }
}
