/**
 * `/v1/events`: ingest (POST) and reads (GET). Handlers only translate HTTP to
 * service calls and results to PulseStream's response shapes.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import { toEventView } from "../../shared/event.ts";
import type { EventLimits, RequestLimits } from "../../shared/limits.ts";
import type { Clock } from "../clock.ts";
import { NotFoundError, PayloadTooLargeError, RateLimitedError, ValidationError } from "../errors.ts";
import { type IngestDeps, ingestEvents, type IngestResult } from "../ingest/ingest-service.ts";
import type { Principal } from "../auth/api-keys.ts";
import { type IdempotencyRecord, StalePredictionError, type Store } from "../store/store.ts";
import type { AppEnv } from "./app-env.ts";
import { type EventsPayload, readEventsPayload, refusedEventCount } from "./body.ts";
import { decodeCursor, encodeCursor, parseTime } from "./query-params.ts";
import { type AuthDeps, requireScope } from "./require-scope.ts";
import type { RateLimit, RateLimiter } from "../ingest/rate-limiter.ts";
import { IdempotencyGuard } from "../ingest/idempotency.ts";
import { DeadlineQueue } from "./deadlines.ts";
import { readAdmission, type ReadAdmissionDeps } from "./read-admission.ts";

export interface EventsRoutesDeps {
  auth: AuthDeps;
  limiter: RateLimiter;
  requestTimeoutMs: number;
  /** Read rate and heavy-read slots of GET (absent: reads are not admitted, e.g. WebSocket ingestion). */
  reads?: ReadAdmissionDeps;
  idempotency: IdempotencyGuard;
  defaultRateLimit: RateLimit;
  store: Store;
  clock: Clock;
  ingest: IngestDeps;
  eventLimits: EventLimits;
  requestLimits: RequestLimits;
}

const MAX_PAGE = 1000;

const listQuery = z.object({
  deviceId: z.string().min(1).max(1024).optional(),
  eventType: z.string().min(1).max(1024).optional(),
  limit: z.string().regex(/^\d+$/, { error: `must be an integer from 1 to ${MAX_PAGE}` }).transform(Number)
    .refine((n) => n >= 1 && n <= MAX_PAGE, { error: `must be an integer from 1 to ${MAX_PAGE}` }).optional(),
  cursor: z.string().max(200, { error: "cursor is not valid (pass nextCursor from a previous page)" })
    .optional(),
});

export function eventsRoutes(deps: EventsRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const auth = deps.auth;
  const bodyDeadlines = new DeadlineQueue(deps.requestTimeoutMs);

  app.post("/", requireScope("ingest", auth, { cachedKey: true }), async (c) => {
    const idemKey = IdempotencyGuard.parseHeader(c.req.header("idempotency-key"));
    const payload = await readEventsPayload(c.req.raw, deps.requestLimits, bodyDeadlines).catch(
      (error) => {
        const refused = refusedEventCount(error);
        if (refused !== null) deps.ingest.outcomes?.rejected("too_large").inc(refused);
        throw error;
      },
    );
    const principal = c.get("principal");
    const rate = chargeRate(deps, principal, payload.items.length);
    for (const [name, value] of Object.entries(rate)) c.header(name, value);
    const outcome = await ingestPayload(deps, principal.keyId, payload, idemKey);
    return c.body(outcome.body, outcome.status as 202, {
      "content-type": "application/json",
      ...(outcome.replayed ? { "Idempotent-Replayed": "true" } : {}),
    });
  });

  const admit = (heavy: boolean): MiddlewareHandler<AppEnv> =>
    deps.reads ? readAdmission(deps.reads, { heavy }) : (_c, next) => next();

  app.get("/:id", requireScope("read", auth), admit(false), async (c) => {
    const id = c.req.param("id");
    const event = id.length <= deps.eventLimits.maxIdLength ? await deps.store.getEvent(id) : null;
    if (!event) throw new NotFoundError(`No event with id ${JSON.stringify(id.slice(0, 200))}`);
    return c.json({ status: "success", data: toEventView(event) });
  });

  app.get("/", requireScope("read", auth), admit(true), async (c) => {
    const raw = c.req.query();
    const parsed = listQuery.safeParse(raw);
    const errors = parsed.success
      ? []
      : parsed.error.issues.map((i) => ({ field: i.path.join("."), message: i.message }));
    const q = parsed.success ? parsed.data : {} as z.infer<typeof listQuery>;
    const now = deps.clock.now();
    const from = parseTime(raw.from, "from", now, errors);
    const to = parseTime(raw.to, "to", now, errors);
    const after = raw.cursor === undefined ? undefined : decodeCursor(raw.cursor, errors);
    if (from !== undefined && to !== undefined && from >= to) {
      errors.push({ field: "from", message: "from must be before to" });
    }
    if (errors.length) throw new ValidationError("Invalid query parameters", errors);
    const limit = q.limit ?? 100;
    const events = await deps.store.listEvents({
      deviceId: q.deviceId,
      eventType: q.eventType,
      from,
      to,
      after,
      limit: limit + 1,
    });
    const page = events.slice(0, limit);
    const last = page[page.length - 1];
    const nextCursor = events.length > limit && last
      ? encodeCursor({ timestamp: last.timestamp, seq: last.seq })
      : null;
    return c.json({ status: "success", data: { events: page.map(toEventView), nextCursor } });
  });

  return app;
}

/**
 * Takes one token per event from the key's bucket and returns the RateLimit-* headers; throws
 * 429 (with Retry-After) when the bucket is short, or 413 when the request alone is larger than
 * the key's burst and could never pass. Shared by HTTP and WebSocket ingestion.
 */
export function chargeRate(
  deps: Pick<EventsRoutesDeps, "limiter" | "defaultRateLimit"> & { ingest?: Pick<IngestDeps, "outcomes"> },
  principal: Principal,
  events: number,
): Record<string, string> {
  const limit = principal.rateLimit ?? deps.defaultRateLimit;
  const decision = deps.limiter.take(principal.keyId, events, limit);
  const headers = {
    "RateLimit-Limit": String(decision.limit),
    "RateLimit-Remaining": String(decision.remaining),
    "RateLimit-Reset": String(decision.resetSeconds),
  };
  if (decision.allowed) return headers;
  const outcomes = deps.ingest?.outcomes;
  if (decision.retryAfterSeconds === null) {
    outcomes?.rejected("too_large").inc(events);
    throw new PayloadTooLargeError(
      `A request of ${events} events exceeds this key's burst of ${limit.burst} events`,
      "events",
      headers,
    );
  }
  outcomes?.rateLimited.inc(events);
  throw new RateLimitedError(
    `Rate limit exceeded: ${limit.ratePerSecond} events/s with bursts of ${limit.burst}; retry after ${decision.retryAfterSeconds} s`,
    decision.retryAfterSeconds,
    headers,
  );
}

/**
 * Validates, commits and renders one ingest request (HTTP body or WebSocket frame), with the
 * Idempotency-Key rules when `idemKey` is given: resolves with the status and body to send, and
 * whether it is a replay of a remembered outcome. Throws the typed errors (400, 409, 422, 503).
 */
export async function ingestPayload(
  deps: EventsRoutesDeps,
  keyId: string,
  payload: EventsPayload,
  idemKey: string | null,
): Promise<{ status: number; body: string; replayed: boolean }> {
  if (idemKey === null) {
    const result = await ingestEvents(deps.ingest, ingestParams(deps, keyId, payload, null, undefined));
    return { ...render(payload.kind, result), replayed: false };
  }
  const begun = deps.idempotency.begin(keyId, idemKey, payload, {
    keyIsEventId: isEventId(idemKey, deps.eventLimits.maxIdLength),
  });
  const start = begun instanceof Promise ? await begun : begun;
  if (start.kind === "replay") return { status: start.status, body: start.body, replayed: true };
  const ticket = start.ticket;
  let outcome: { status: number; body: string } | null = null;
  let predicted: { status: number; body: string } | null = null;
  let record: IdempotencyRecord | null = null;
  let saved = false;
  const attempt = (optimistic: boolean) =>
    ingestEvents(
      deps.ingest,
      {
        ...ingestParams(deps, keyId, payload, idemKey, ticket.derivedIdPrefix),
        rejectedCounted: !optimistic,
      },
      {
        // First on the prediction that the key and the ids are new (checked by the commit).
        existingIds: optimistic
          ? undefined
          : (ids: readonly string[]) => deps.store.findExistingEventIds(ids),
        record: (result: IngestResult) =>
          record = deps.idempotency.record(ticket, predicted = render(payload.kind, result)),
      },
    );
  try {
    let result: IngestResult & { remembered: boolean };
    try {
      result = await attempt(true);
    } catch (error) {
      if (!(error instanceof StalePredictionError)) throw error;
      // The key was used before (not in the recent map), or some ids are stored: the store knows.
      const stored = await deps.idempotency.stored(ticket);
      if (stored) return { ...stored, replayed: true };
      result = await attempt(false);
    }
    // When the prediction held, the committed record is exactly the outcome; otherwise (a
    // concurrent request committed one of the ids first) the actual outcome is remembered now.
    saved = result.remembered;
    outcome = saved && predicted ? predicted : render(payload.kind, result);
  } finally {
    const finishing = deps.idempotency.finish(ticket, outcome, saved ? record : null);
    if (finishing) await finishing;
  }
  return { ...outcome, replayed: false };
}

function ingestParams(
  deps: EventsRoutesDeps,
  keyId: string,
  payload: EventsPayload,
  idemKey: string | null,
  derivedIdPrefix: string | undefined,
) {
  const single = payload.kind === "single";
  return {
    items: payload.items,
    single,
    idempotencyKey: idemKey,
    // A single event whose key is a valid id takes the key as its id (ingestEvents); with any other
    // key it gets a derived one, as batch items do, so a retry after the record expired still
    // finds the event stored.
    derivedIdPrefix,
    maxIdLength: deps.eventLimits.maxIdLength,
    keyId,
  };
}

const EVENT_ID = /^[A-Za-z0-9._:-]+$/;

/** Whether an Idempotency-Key can be a single event's id as it is (PulseStream's rule). */
function isEventId(key: string, maxIdLength: number): boolean {
  return key.length <= maxIdLength && EVENT_ID.test(key);
}

const ACCEPTED_HEAD = '{"status":"success","message":"Event accepted for processing","data":';
const DUPLICATE_HEAD = '{"status":"success","message":"Duplicate event: already stored","data":';

/** Renders PulseStream's 202 body for an ingest result; throws the 400 for an all-rejected one. */
function render(kind: EventsPayload["kind"], result: IngestResult): { status: number; body: string } {
  if (kind === "single") {
    const item = result.results[0];
    if (item.status === "rejected") throw new ValidationError("Event validation failed", item.errors);
    const event = result.events.get(0)!;
    // Written out rather than JSON.stringify of an object: this is the hottest response there is.
    // The same text as {status, message, data: {id, deviceId, timestamp[, duplicate: true]}}.
    const head = item.status === "accepted" ? ACCEPTED_HEAD : DUPLICATE_HEAD;
    const tail = item.status === "accepted" ? "}}" : ',"duplicate":true}}';
    return {
      status: 202,
      body: `${head}{"id":${JSON.stringify(event.id)},"deviceId":${JSON.stringify(event.deviceId)},` +
        `"timestamp":"${new Date(event.timestamp).toISOString()}"${tail}`,
    };
  }
  const data = { totals: result.totals, results: result.results };
  if (result.totals.rejected === result.totals.received) {
    const errors = result.results.flatMap((r) =>
      (r.errors ?? []).map((e) => ({ field: `[${r.index}].${e.field}`, message: e.message }))
    );
    throw new ValidationError("Every event in the request was rejected", errors, { data });
  }
  return {
    status: 202,
    body: JSON.stringify({
      status: "success",
      message: `${result.totals.accepted} of ${result.totals.received} events accepted`,
      data,
    }),
  };
}
