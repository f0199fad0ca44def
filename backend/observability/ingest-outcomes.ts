/**
 * `pulsestream_events_total{transport, outcome, reason}`: what happened to every
 * event offered on each ingest path. Label values come from fixed sets, so the
 * series count is bounded (3 transports × 6 outcomes, rejects × 10 reasons)
 * whatever clients send; every child is resolved when the app is built, so
 * counting is one addition per request and outcome.
 */
import type { Counter, CounterChild, MetricsRegistry } from "./registry.ts";

export const TRANSPORTS = ["http", "websocket", "import"] as const;
export type Transport = (typeof TRANSPORTS)[number];

/**
 * Why an event was rejected: the top-level event field of its first error, `malformed` (not a
 * JSON object / unparsable line), `unknown_field` (a field the schema does not have) or
 * `too_large` (413 when the refused count is known: a request larger than the key's rate-limit
 * burst, or over MAX_EVENTS_PER_REQUEST when counted whole — a small HTTP body or a WebSocket frame).
 */
export const REJECT_REASONS = [
  "malformed",
  "unknown_field",
  "too_large",
  "id",
  "deviceId",
  "eventType",
  "value",
  "timestamp",
  "metadata",
  "data",
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

const FIELD_REASONS: ReadonlySet<string> = new Set(REJECT_REASONS.slice(3));

/** Counters of one ingest path, pre-resolved. */
export interface IngestOutcomes {
  /** Stored by this request (first time the id was seen). */
  readonly accepted: CounterChild;
  /** Already stored (same id). */
  readonly duplicate: CounterChild;
  /** Refused with 429 by the key's rate limit (every event of the request). */
  readonly rateLimited: CounterChild;
  /** Refused with 503 because the commit queue was full. */
  readonly overloaded: CounterChild;
  /** Not stored because the store failed (503). */
  readonly failed: CounterChild;
  /** Refused as invalid, by reason. */
  rejected(reason: RejectReason): CounterChild;
}

/** Pre-resolved outcome counters per transport. */
export type IngestOutcomesByTransport = Readonly<Record<Transport, IngestOutcomes>>;

/** Registers `pulsestream_events_total` and resolves all its series. */
export function registerIngestOutcomes(registry: MetricsRegistry): IngestOutcomesByTransport {
  const counter = registry.counter({
    name: "pulsestream_events_total",
    help: "Events offered for ingestion, by transport (http, websocket, import), outcome " +
      "(accepted, duplicate, rejected, rate_limited, overloaded, failed) and, for rejected, reason.",
    labelNames: ["transport", "outcome", "reason"],
  });
  const forTransport = (t: Transport): IngestOutcomes => outcomesOf(counter, t);
  return { http: forTransport("http"), websocket: forTransport("websocket"), import: forTransport("import") };
}

function outcomesOf(counter: Counter<"transport" | "outcome" | "reason">, t: Transport): IngestOutcomes {
  const accepted = counter.labels(t, "accepted", "");
  const duplicate = counter.labels(t, "duplicate", "");
  const rejected = new Map<string, CounterChild>(
    REJECT_REASONS.map((r) => [r, counter.labels(t, "rejected", r)]),
  );
  const rateLimited = counter.labels(t, "rate_limited", "");
  const overloaded = counter.labels(t, "overloaded", "");
  const failed = counter.labels(t, "failed", "");
  return { accepted, duplicate, rateLimited, overloaded, failed, rejected: (r) => rejected.get(r)! };
}

/** Outcome counters that count nothing (components built without observability). */
export const NO_OUTCOMES: IngestOutcomes = (() => {
  const noop = { inc() {} };
  return {
    accepted: noop,
    duplicate: noop,
    rateLimited: noop,
    overloaded: noop,
    failed: noop,
    rejected: () => noop,
  };
})();

/** The reject reason of an event whose first error is on `field` (a dotted path like `metadata.site`). */
export function rejectReason(field: string | undefined): RejectReason {
  if (field === undefined || field === "event" || field === "") return "malformed";
  const end = field.search(/[.[]/);
  const top = end < 0 ? field : field.slice(0, end);
  return FIELD_REASONS.has(top) ? (top as RejectReason) : "unknown_field";
}
