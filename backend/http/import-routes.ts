/**
 * `/v1/import`: bulk import of NDJSON, CSV or JSON-array files (POST, `ingest`
 * scope) and job progress (GET `/:id`, `read` scope). The POST streams the
 * whole body through `ImportService` and answers 201 with the finished job;
 * its id is in the `Import-Id` response header from the start (also on
 * errors), and a client that wants to watch progress while it uploads sends
 * its own `Import-Id`.
 */
import { Hono } from "hono";
import type { Clock } from "../clock.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import { ImportService } from "../import/import-service.ts";
import { IMPORT_ID_PATTERN, parseImportOptions } from "../import/import-options.ts";
import type { GroupCommitter } from "../ingest/group-committer.ts";
import type { RateLimit, RateLimiter } from "../ingest/rate-limiter.ts";
import type { Logger } from "../logger.ts";
import type { ImportJobRecord, Store } from "../store/store.ts";
import { createEventValidator } from "../../shared/event-schema.ts";
import type { EventLimits, RequestLimits } from "../../shared/limits.ts";
import type { AppEnv } from "./app-env.ts";
import { type AuthDeps, requireScope } from "./require-scope.ts";
import type { IngestOutcomes } from "../observability/ingest-outcomes.ts";
import type { ImportLimits } from "../import/import-service.ts";
import type { MetricsRegistry } from "../observability/registry.ts";
import { registerHeldGauge } from "../observability/connection-collectors.ts";

export interface ImportRoutesDeps {
  auth: AuthDeps;
  store: Store;
  committer: GroupCommitter;
  clock: Clock;
  logger: Logger;
  /** The limiter `/v1/events` uses, so an import and ordinary ingestion share each key's bucket. */
  limiter: RateLimiter;
  defaultRateLimit: RateLimit;
  eventLimits: EventLimits;
  /** Batches are at most `maxEventsPerRequest` events (which fits the commit queue and the burst). */
  requestLimits: RequestLimits;
  partitions: number;
  /** Idle timeout of an import body (no bytes for this long → 408). */
  requestTimeoutMs: number;
  /** Slots per process and per key, total deadline and minimum upload rate. */
  limits: ImportLimits;
  /** Counts each record's outcome; see `ImportDeps`. */
  outcomes?: IngestOutcomes;
  /** Where `pulsestream_imports_running` is registered (absent: not exposed). */
  registry?: MetricsRegistry;
  /** Test hooks, see `ImportDeps`. */
  sleep?: (ms: number) => Promise<void>;
  saveEveryMs?: number;
}

/** Events per import batch unless the request limits are smaller. */
const BATCH_EVENTS = 5_000;

export function importRoutes(deps: ImportRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const imports = new ImportService({
    store: deps.store,
    committer: deps.committer,
    validator: createEventValidator(deps.eventLimits),
    clock: deps.clock,
    partitions: deps.partitions,
    limiter: deps.limiter,
    defaultRateLimit: deps.defaultRateLimit,
    logger: deps.logger,
    idleTimeoutMs: deps.requestTimeoutMs,
    maxRunning: deps.limits.maxRunning,
    maxRunningPerKey: deps.limits.maxRunningPerKey,
    maxDurationMs: deps.limits.maxDurationMs,
    minBytesPerSecond: deps.limits.minBytesPerSecond,
    batchEvents: Math.min(BATCH_EVENTS, deps.requestLimits.maxEventsPerRequest),
    sleep: deps.sleep,
    saveEveryMs: deps.saveEveryMs,
    outcomes: deps.outcomes,
  });

  if (deps.registry) {
    registerHeldGauge(deps.registry, {
      name: "pulsestream_imports_running",
      help: "Imports running now (at most IMPORT_MAX_RUNNING).",
    }, () => imports.running);
  }

  app.post("/", requireScope("ingest", deps.auth), async (c) => {
    const options = parseImportOptions(c.req.raw.headers, c.req.query(), deps.eventLimits);
    const body = c.req.raw.body;
    if (!body) throw new ValidationError("Request body is empty", [{ field: "body", message: "required" }]);
    const id = options.importId ?? newImportId();
    c.header("Import-Id", id);
    const job = await imports.run(id, { body, options, principal: c.get("principal") });
    return c.json({ status: "success", data: toImportJobView(job) }, 201);
  });

  app.get("/:id", requireScope("read", deps.auth), async (c) => {
    const id = c.req.param("id");
    const job = IMPORT_ID_PATTERN.test(id) ? await imports.get(id) : null;
    if (!job) throw new NotFoundError(`No import with id ${JSON.stringify(id.slice(0, 100))}`);
    return c.json({ status: "success", data: toImportJobView(job) });
  });

  return app;
}

/** A job as the API shows it: times as ISO-8601, the key id left out. */
export function toImportJobView(job: ImportJobRecord) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: job.id,
    state: job.state,
    format: job.format,
    bytesRead: job.bytesRead,
    lines: job.lines,
    accepted: job.accepted,
    duplicates: job.duplicates,
    rejected: job.rejected,
    errors: job.errors,
    failure: job.failure,
    startedAt: iso(job.startedAt),
    updatedAt: iso(job.updatedAt),
    finishedAt: iso(job.finishedAt),
  };
}

function newImportId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `imp_${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
