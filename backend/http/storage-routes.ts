/**
 * Storage routes: `GET /v1/export` (read scope) streams raw events or rollups;
 * `GET /v1/admin/storage` and `/v1/admin/dead-letters…` (admin scope) report
 * the layout per tier and manage the dead letters. Thin: parse, call, render.
 */
import { Hono } from "hono";
import type { Clock } from "../clock.ts";
import type { Logger } from "../logger.ts";
import { parseDuration, type RetentionConfig } from "../config.ts";
import { ValidationError } from "../errors.ts";
import { EXPORT_MEDIA, type ExportRequest, exportStream } from "../export/export-service.ts";
import type { ReadOffload } from "./read-offload.ts";
import type { ExportFormat } from "../export/export-formats.ts";
import type { DeadLetterService } from "../storage/dead-letter-service.ts";
import type { RetentionService } from "../storage/retention-service.ts";
import type { Store } from "../store/store.ts";
import type { FieldError } from "../../shared/event-schema.ts";
import type { AppEnv } from "./app-env.ts";
import { parseTime } from "./query-params.ts";
import { readAdmission, type ReadAdmissionDeps } from "./read-admission.ts";
import { type AuthDeps, requireScope } from "./require-scope.ts";

export interface StorageRoutesDeps {
  auth: AuthDeps;
  store: Store;
  clock: Clock;
  deadLetters: DeadLetterService;
  retention: Pick<RetentionConfig, "rawMs" | "minuteRollupsMs" | "hourRollupsMs">;
  /** The retention job, for its last run (null when not running). */
  retentionJob: RetentionService | null;
  storedResolutions: readonly number[];
  maxNameLength: number;
  logger: Logger;
  /** Read rate and heavy-read slots of exports (shared with the other read routes). */
  reads: ReadAdmissionDeps;
  /** Runs exports off this thread (a reader worker), when there is one. */
  offload?: ReadOffload | null;
}

const FORMATS: readonly ExportFormat[] = ["ndjson", "csv", "parquet"];
/**
 * Records per page of an HTTP export: each page is read and encoded in one step on the thread that
 * answers ingestion (about 10 µs per event), so a page is kept to a few milliseconds.
 */
const HTTP_EXPORT_PAGE = 2000;
const MAX_PAGE = 1000;
const DAY_MS = 86_400_000;

/** `GET /v1/export`. */
export function exportRoutes(deps: StorageRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", requireScope("read", deps.auth));
  app.get("/", readAdmission(deps.reads, { heavy: true }), async (c) => {
    const req = parseExport(c.req.query(), deps);
    const options = {
      pageSize: HTTP_EXPORT_PAGE,
      onError: (error: unknown, records: number) =>
        deps.logger.error("export failed part-way; the output ends with its failure marker", {
          error: String(error),
          records,
          format: req.format,
        }),
    };
    const body = deps.offload?.available
      ? await deps.offload.export(req, options)
      : await exportStream(deps.store, req, options);
    const name = `${req.source}-${new Date(req.from).toISOString().slice(0, 10)}.${
      EXPORT_MEDIA[req.format].ext
    }`;
    return new Response(body, {
      status: 200,
      headers: {
        "Content-Type": EXPORT_MEDIA[req.format].type,
        "Content-Disposition": `attachment; filename="${name}"`,
        "Cache-Control": "no-store",
      },
    });
  });
  return app;
}

function parseExport(q: Record<string, string>, deps: StorageRoutesDeps): ExportRequest {
  const errors: FieldError[] = [];
  const now = deps.clock.now();
  const known = new Set(["from", "to", "format", "source", "resolution", "eventType", "deviceId"]);
  for (const k of Object.keys(q)) {
    if (!known.has(k)) errors.push({ field: k, message: `unknown parameter ${k}` });
  }
  const from = parseTime(q.from, "from", now, errors);
  const to = parseTime(q.to, "to", now, errors) ?? (q.to === undefined ? now + 1 : undefined);
  if (q.from === undefined) errors.push({ field: "from", message: "from is required" });
  if (from !== undefined && to !== undefined && from >= to) {
    errors.push({ field: "to", message: "to must be after from" });
  }
  const format = (q.format ?? "ndjson") as ExportFormat;
  if (!FORMATS.includes(format)) {
    errors.push({ field: "format", message: "format must be ndjson, csv or parquet" });
  }
  const source = q.source ?? "events";
  if (source !== "events" && source !== "rollups") {
    errors.push({ field: "source", message: "source must be events or rollups" });
  }
  let resolution: number | undefined;
  if (source === "rollups") {
    resolution = q.resolution === undefined
      ? deps.storedResolutions[0]
      : (/^\d+$/.test(q.resolution) ? Number(q.resolution) : parseDuration(q.resolution) ?? NaN);
    if (!deps.storedResolutions.includes(resolution!)) {
      errors.push({
        field: "resolution",
        message: `resolution must be a stored resolution: ${
          deps.storedResolutions.map((r) => `${r / 1000}s`).join(", ")
        }`,
      });
    }
  } else if (q.resolution !== undefined) {
    errors.push({ field: "resolution", message: "resolution applies to source=rollups only" });
  }
  for (const field of ["eventType", "deviceId"] as const) {
    const v = q[field];
    if (v !== undefined && (v === "" || v.length > deps.maxNameLength)) {
      errors.push({ field, message: `${field} must be 1-${deps.maxNameLength} characters` });
    }
  }
  if (errors.length) throw new ValidationError("Invalid export request", errors);
  return {
    source: source as ExportRequest["source"],
    format,
    from: from!,
    to: to!,
    resolution,
    eventType: q.eventType,
    deviceId: q.deviceId,
  };
}

/** `GET /v1/admin/storage` and the dead-letter routes, mounted under `/v1/admin`. */
export function storageAdminRoutes(deps: StorageRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", requireScope("admin", deps.auth));

  app.get("/storage", async (c) => {
    const layout = await deps.store.storage.layout();
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const p = layout.partitions;
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const { rawMs, minuteRollupsMs, hourRollupsMs } = deps.retention;
    const rollupTiers = deps.storedResolutions.map((resolution) => {
      const t = layout.rollups.find((r) => r.resolution === resolution);
      const keepMs = resolution < 3_600_000 ? minuteRollupsMs : hourRollupsMs;
      return {
        resolution: `${resolution / 1000}s`,
        resolutionMs: resolution,
        retentionDays: keepMs / DAY_MS,
        rows: t?.rows ?? 0,
        bytes: t?.bytes ?? 0,
        oldest: iso(t?.oldest ?? null),
        newest: iso(t?.newest ?? null),
      };
    });
    return c.json({
      raw: {
        retentionDays: rawMs / DAY_MS,
        partitions: p.map((x) => ({ ...x, oldest: iso(x.oldest), newest: iso(x.newest) })),
        rows: sum(p.map((x) => x.rows)),
        bytes: sum(p.map((x) => x.bytes)),
        oldest: iso(p.find((x) => x.oldest !== null)?.oldest ?? null),
        newest: iso([...p].reverse().find((x) => x.newest !== null)?.newest ?? null),
      },
      eventIds: layout.eventIds,
      dictionary: layout.dictionary,
      rollups: { tiers: rollupTiers, bytes: layout.rollupBytes },
      file: layout.file,
      deadLetters: await deps.deadLetters.counts(),
      lastRetentionRun: deps.retentionJob?.lastRun ?? null,
    });
  });

  app.get("/dead-letters", async (c) => {
    const q = c.req.query();
    const errors: FieldError[] = [];
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      errors.push({ field: "limit", message: `limit must be an integer from 1 to ${MAX_PAGE}` });
    }
    const before = q.cursor === undefined ? undefined : Number(q.cursor);
    if (before !== undefined && !(Number.isSafeInteger(before) && before > 0)) {
      errors.push({ field: "cursor", message: "cursor must be nextCursor from a previous page" });
    }
    if (q.kind !== undefined && !/^[a-z0-9._-]{1,64}$/.test(q.kind)) {
      errors.push({ field: "kind", message: "kind must be 1-64 of a-z, 0-9, '.', '_', '-'" });
    }
    if (q.pending !== undefined && q.pending !== "true" && q.pending !== "false") {
      errors.push({ field: "pending", message: "pending must be true or false" });
    }
    if (errors.length) throw new ValidationError("Invalid dead-letter query", errors);
    const items = await deps.deadLetters.list({
      kind: q.kind,
      pending: q.pending === "true",
      beforeId: before,
      limit,
    });
    return c.json({
      items: items.map(render),
      nextCursor: items.length === limit ? String(items[items.length - 1].id) : null,
    });
  });

  app.get(
    "/dead-letters/:id{[0-9]+}",
    async (c) => c.json(render(await deps.deadLetters.get(Number(c.req.param("id"))))),
  );

  app.post("/dead-letters/:id{[0-9]+}/replay", async (c) => {
    return c.json(await deps.deadLetters.replay(Number(c.req.param("id"))));
  });

  app.post("/dead-letters/replay", async (c) => {
    const kind = c.req.query("kind");
    const outcomes = await deps.deadLetters.replayAll(kind);
    return c.json({
      replayed: outcomes.filter((o) => o.outcome === "replayed").length,
      failed: outcomes.filter((o) => o.outcome === "failed").length,
      outcomes,
    });
  });

  app.delete("/dead-letters", async (c) => {
    const q = c.req.query();
    if (q.replayed !== undefined && q.replayed !== "true" && q.replayed !== "false") {
      throw new ValidationError("Invalid purge", [{
        field: "replayed",
        message: "replayed must be true or false",
      }]);
    }
    if (q.pending !== undefined && q.pending !== "true" && q.pending !== "false") {
      throw new ValidationError("Invalid purge", [{
        field: "pending",
        message: "pending must be true or false",
      }]);
    }
    if (q.kind !== undefined && !/^[a-z][a-z0-9-]{0,63}$/.test(q.kind)) {
      throw new ValidationError("Invalid purge", [{
        field: "kind",
        message: "kind must be 1-64 lowercase letters, digits or dashes",
      }]);
    }
    // Pending items (e.g. a rollup range the rollups still lack) go only when asked for explicitly.
    const purged = await deps.deadLetters.purge({ kind: q.kind, replayedOnly: q.pending !== "true" });
    return c.json({ purged });
  });

  return app;
}

function render(d: Awaited<ReturnType<DeadLetterService["get"]>>) {
  return {
    ...d,
    firstFailedAt: new Date(d.firstFailedAt).toISOString(),
    lastFailedAt: new Date(d.lastFailedAt).toISOString(),
    replayedAt: d.replayedAt === null ? null : new Date(d.replayedAt).toISOString(),
  };
}
