/**
 * What the instrumentation does per ingest request, timed alone (no I/O), so
 * its cost can be compared with the cost of a request even on a busy machine:
 * the request-log observer (in-flight gauge, route/method/code lookups,
 * histogram observation), the ingest outcome counters and one commit's two
 * histograms (a single-event request at low load is one commit), with
 * `new Observability({ enabled: true })` versus `{ enabled: false }` (what
 * METRICS_INSTRUMENTATION=off runs: the same calls on no-op children).
 *
 * Not included, because both modes run it: `parseTraceParent` (request logs)
 * and Hono's `routePath` (computed for the log line when the request is logged;
 * with instrumentation on also for the metrics — at LOG_LEVEL=warn that one
 * lookup is an extra cost of "on" not timed here). `parseTraceParent` is timed
 * on its own for scale. The "off" figure is an upper bound: with instrumentation
 * off the request log does not call the request observer at all.
 *
 *   deno run -A bench/instrumentation-micro.ts [iterations=2000000]
 */
import { createLogger } from "../backend/logger.ts";
import { Observability } from "../backend/observability/observability.ts";
import { parseTraceParent } from "../backend/observability/trace-context.ts";

const N = Number(Deno.args[0] ?? 2_000_000);
const ROUTES = ["/v1/events", "/v1/events/:id", "/livez", "/v1/metrics"];
const TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

function perRequest(obs: Observability, n: number): number {
  const http = obs.ingest.http;
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    obs.requests.started();
    http.accepted.inc(1);
    http.duplicate.inc(0);
    obs.onCommit({ events: 1, requests: 1, durationMs: 0.05 * (i & 31), ok: true });
    obs.requests.finished("POST", ROUTES[i & 3], 202, 0.0001 * (i & 63));
  }
  return ((performance.now() - t) * 1e6) / n; // ns per request
}

function traceParse(n: number): number {
  let sink = 0;
  const t = performance.now();
  for (let i = 0; i < n; i++) sink += parseTraceParent(TRACE)?.traceId.length ?? 0;
  const ns = ((performance.now() - t) * 1e6) / n;
  return sink < 0 ? -1 : ns;
}

const logger = createLogger("silent");
for (let round = 1; round <= 3; round++) {
  const on = new Observability({ enabled: true, logger });
  const off = new Observability({ enabled: false, logger });
  perRequest(on, N / 10); // warm up
  perRequest(off, N / 10);
  const onNs = perRequest(on, N);
  const offNs = perRequest(off, N);
  const traceNs = traceParse(N / 4);
  console.log(
    `round ${round}: instrumentation on ${onNs.toFixed(1)} ns, off ${offNs.toFixed(1)} ns per request ` +
      `(difference ${(onNs - offNs).toFixed(1)} ns); parseTraceParent ${traceNs.toFixed(1)} ns (both modes)`,
  );
}
