/**
 * InfluxDB-compatible writes: `POST /api/v2/write` (InfluxDB 2) and `POST /write` (InfluxDB 1)
 * take line protocol, so Telegraf and the InfluxDB client libraries can send to PulseStream as
 * they are. The body goes through the JSON ingest's limits, rate limiter and group committer
 * (points → events: `ingest/line-points.ts`).
 *
 * As InfluxDB does, a batch with bad lines is written in part: the good points are committed and
 * the answer is 400 naming each bad line (`line N: …`); a batch of good lines answers 204. A point
 * is never stored in part. Errors come in InfluxDB's shapes, which its clients read:
 * `{"code","message"}` on v2 and `{"error"}` (with `X-Influxdb-Error`) on v1; 429 and 503 carry
 * Retry-After, which the clients honour before they resend.
 *
 * The key: `Authorization: Token <key>` (or `Bearer`, or `X-API-Key`); on v1 also the `p` query
 * parameter or the password of Basic auth. It needs the `ingest` scope. `org`, `bucket`, `db` and
 * `rp` are accepted and not used: every write goes to the one event store.
 */
import { type Context, Hono } from "hono";
import { apiKeyFromHeaders, authenticate } from "../auth/api-keys.ts";
import type { LineProtocolConfig } from "../config.ts";
import { AppError, PayloadTooLargeError, RateLimitedError, ValidationError } from "../errors.ts";
import { type IngestDeps, ingestEvents } from "../ingest/ingest-service.ts";
import { parsePrecision, type PointMapping, pointsToEvents } from "../ingest/line-points.ts";
import { type LineError, parseLineProtocol } from "../ingest/line-protocol.ts";
import { rejectReason } from "../observability/ingest-outcomes.ts";
import type { AppEnv } from "./app-env.ts";
import { readLinesText } from "./body.ts";
import { DeadlineQueue } from "./deadlines.ts";
import { chargeRate, type EventsRoutesDeps } from "./events-routes.ts";

/** What the write routes need: the JSON ingest's dependencies and the point mapping. */
export interface InfluxRoutesDeps {
  events: EventsRoutesDeps;
  lineProtocol: LineProtocolConfig;
}

type Api = "v1" | "v2";

/** Bad lines named in one 400 answer (the count of all of them is always given). */
const MAX_REPORTED_LINES = 100;

const INFLUX_CODES: Record<number, string> = {
  400: "invalid",
  401: "unauthorized",
  403: "forbidden",
  404: "not found",
  408: "invalid",
  409: "conflict",
  413: "request too large",
  415: "unsupported media type",
  429: "too many requests",
  503: "unavailable",
};

export function influxRoutes(deps: InfluxRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const events = deps.events;
  const deadlines = new DeadlineQueue(events.requestTimeoutMs);
  const mapping: PointMapping = {
    deviceTags: deps.lineProtocol.deviceTags,
    limits: events.eventLimits,
    validator: events.ingest.validator,
  };
  // Points arrive validated by `pointsToEvents` (same limits), so the commit path takes them as they are.
  const ingest: IngestDeps = {
    ...events.ingest,
    validator: { validate: (event) => ({ ok: true, event: event as never }) },
  };

  const write = (api: Api) => async (c: Context<AppEnv>) => {
    try {
      return await handleWrite(c, api);
    } catch (error) {
      if (error instanceof AppError) return influxError(c, api, error);
      throw error;
    }
  };

  async function handleWrite(c: Context<AppEnv>, api: Api): Promise<Response> {
    const precision = parsePrecision(c.req.query("precision"), api);
    if (precision === null) {
      throw new ValidationError(
        `invalid precision ${JSON.stringify(c.req.query("precision"))}: use ${
          api === "v2" ? "ns, us, ms or s" : "ns, u, ms, s, m or h"
        }`,
      );
    }
    const auth = events.auth;
    const principal = await authenticate(auth.store, secretOf(c, api), {
      scope: "ingest",
      clock: auth.clock,
      hasher: auth.hasher,
      cache: auth.cache,
    });
    auth.usage.record(principal.keyId, auth.clock.now());

    const text = await readLinesText(c.req.raw, events.requestLimits, deadlines);
    const parsed = parseLineProtocol(text, { maxLineLength: deps.lineProtocol.maxLineLength });
    const mapped = pointsToEvents(parsed.points, { precision, now: events.clock.now(), mapping });
    const max = events.requestLimits.maxEventsPerRequest;
    if (mapped.events.length > max) {
      throw new PayloadTooLargeError(
        `The request's points make ${mapped.events.length} events (one per numeric field): at most ${max} per request`,
        "events",
      );
    }
    const outcomes = events.ingest.outcomes;
    if (outcomes) {
      if (parsed.errors.length) outcomes.rejected("malformed").inc(parsed.errors.length);
      for (const e of mapped.errors) outcomes.rejected(rejectReason(e.field)).inc();
    }
    let stored = 0;
    if (mapped.events.length > 0) {
      for (const [name, value] of Object.entries(chargeRate(events, principal, mapped.events.length))) {
        c.header(name, value);
      }
      const result = await ingestEvents(ingest, {
        items: mapped.events,
        single: false,
        maxIdLength: events.eventLimits.maxIdLength,
        keyId: principal.keyId,
      });
      stored = result.totals.accepted + result.totals.duplicate;
    }
    const errors = parsed.errors.length && mapped.errors.length
      ? [...parsed.errors, ...mapped.errors].sort((a, b) => a.line - b.line)
      : parsed.errors.length
      ? parsed.errors
      : mapped.errors;
    if (errors.length === 0) {
      if (parsed.points.length === 0) throw new ValidationError("no points in the request body");
      return c.body(null, 204);
    }
    throw new ValidationError(
      partialWriteMessage(errors, parsed.points.length + parsed.errors.length, stored),
    );
  }

  app.post("/api/v2/write", write("v2"));
  app.post("/write", write("v1"));
  return app;
}

/** The key of a write request, wherever its API puts it. */
function secretOf(c: Context<AppEnv>, api: Api): string | null {
  const authorization = c.req.header("authorization");
  const token = authorization ? /^Token\s+(\S+)\s*$/i.exec(authorization) : null;
  if (token) return token[1];
  const standard = apiKeyFromHeaders(c.req.raw.headers);
  if (standard || api === "v2") return standard;
  const basic = authorization ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization) : null;
  if (basic) {
    try {
      const decoded = atob(basic[1]);
      const colon = decoded.indexOf(":");
      if (colon >= 0 && colon < decoded.length - 1) return decoded.slice(colon + 1);
    } catch {
      // not base64: no key
    }
  }
  return c.req.query("p") ?? null;
}

function partialWriteMessage(errors: readonly LineError[], lines: number, stored: number): string {
  const shown = errors.slice(0, MAX_REPORTED_LINES).map((e) => `line ${e.line}: ${e.message}`).join("; ");
  const more = errors.length > MAX_REPORTED_LINES ? `; and ${errors.length - MAX_REPORTED_LINES} more` : "";
  return `partial write: ${errors.length} of ${lines} lines rejected, ${stored} events written` +
    ` (the other lines are stored); ${shown}${more}`;
}

/** An error in the shape of the API the client speaks, with Retry-After and RateLimit-* as usual. */
function influxError(c: Context<AppEnv>, api: Api, error: AppError): Response {
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
  const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  if (typeof retryAfter === "number") headers["Retry-After"] = String(retryAfter);
  if (error instanceof PayloadTooLargeError || error instanceof RateLimitedError) {
    Object.assign(headers, error.headers);
  }
  if (error.status === 401) {
    headers["WWW-Authenticate"] = api === "v2" ? "Token" : 'Basic realm="pulsestream"';
  }
  if (api === "v1") {
    headers["X-Influxdb-Error"] = error.message.slice(0, 1000).replace(/[^\x20-\x7e]/g, "?");
    return c.body(JSON.stringify({ error: error.message }), error.status as 400, headers);
  }
  const code = INFLUX_CODES[error.status] ?? "internal error";
  return c.body(JSON.stringify({ code, message: error.message }), error.status as 400, headers);
}
