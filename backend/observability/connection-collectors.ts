/**
 * Scrape-time collectors for the bounds on what clients hold open: HTTP
 * connections (open now, closed by the server per reason; reported by the
 * runtime entry's connection guard), and gauges such as the open ingest
 * WebSockets and running imports.
 * Reasons are the fixed set of `ConnectionCloseReason`, so series are bounded.
 */
import type { MetricsRegistry } from "./registry.ts";

/** Why the server closed a connection. */
export type ConnectionCloseReason =
  /** `MAX_CONNECTIONS` were open: answered 503 and closed at once. */
  | "refused"
  /** No complete request head within `HEADERS_TIMEOUT_MS`. */
  | "header_timeout"
  /** No request for `KEEP_ALIVE_TIMEOUT_MS` after the last response (ordinary; logged at debug). */
  | "idle"
  /** A request head the HTTP parser refused (answered 400 or 431). */
  | "bad_request";

const REASONS: readonly ConnectionCloseReason[] = ["refused", "header_timeout", "idle", "bad_request"];

/** What a runtime entry's connection guard reports. */
export interface ConnectionStats {
  /** Open HTTP connections now (-1: not tracked, e.g. `DENO_CONNECTION_GUARD=off`). */
  open: number;
  /** Connections the server closed since start, by reason. */
  closed: Partial<Record<ConnectionCloseReason, number>>;
}

/** Registers `pulsestream_connections_open` and `pulsestream_connections_closed_total{reason}`. */
export function registerConnectionCollectors(
  registry: MetricsRegistry,
  stats: () => ConnectionStats,
): () => void {
  return registry.collect(() => {
    const { open, closed } = stats();
    if (open < 0) return []; // not tracked (plain Deno.serve): no figures rather than zeros
    return [{
      name: "pulsestream_connections_closed_total",
      help: "HTTP connections closed by the server, by reason (refused over MAX_CONNECTIONS, " +
        "header_timeout, idle after KEEP_ALIVE_TIMEOUT_MS, bad_request).",
      type: "counter",
      samples: REASONS.map((reason) => ({ labels: { reason }, value: closed[reason] ?? 0 })),
    }, {
      name: "pulsestream_connections_open",
      help: "Open HTTP connections (on Deno, WebSockets leave this count once upgraded).",
      type: "gauge",
      samples: [{ labels: {}, value: open }],
    }];
  });
}

/** Registers a gauge read at scrape time (open ingest WebSockets, running imports, …). */
export function registerHeldGauge(
  registry: MetricsRegistry,
  def: { name: string; help: string },
  value: () => number,
): () => void {
  return registry.collect(() => [{ ...def, type: "gauge", samples: [{ labels: {}, value: value() }] }]);
}
