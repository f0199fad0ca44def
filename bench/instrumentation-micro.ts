/**
 * What the instrumentation does per ingest request, timed alone (no I/O), so
 * its cost can be compared with the cost of a request even on a busy machine:
 * the request-log observer (in-flight gauge, route/method/code lookups,
 * histogram observation) plus the ingest outcome counters, enabled vs disabled.
 *
 *   deno run -A bench/instrumentation-micro.ts [iterations=2000000]
 */
import { createLogger } from "../backend/logger.ts";
import { Observability } from "../backend/observability/observability.ts";

const N = Number(Deno.args[0] ?? 2_000_000);
const ROUTES = ["/v1/events", "/v1/events/:id", "/livez", "/v1/metrics"];

function perRequest(obs: Observability, n: number): number {
  const http = obs.ingest.http;
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    obs.requests.started();
    http.accepted.inc(1);
    http.duplicate.inc(0);
    obs.requests.finished("POST", ROUTES[i & 3], 202, 0.0001 * (i & 63));
  }
  return ((performance.now() - t) * 1e6) / n; // ns per request
}

/** The same loop without instrumentation (what the app does with METRICS_INSTRUMENTATION=off). */
function bare(n: number): number {
  let sink = 0;
  const t = performance.now();
  for (let i = 0; i < n; i++) sink += ROUTES[i & 3].length + 0.0001 * (i & 63);
  const ns = ((performance.now() - t) * 1e6) / n;
  return sink < 0 ? -1 : ns;
}

for (let round = 1; round <= 3; round++) {
  const obs = new Observability({ enabled: true, logger: createLogger("silent") });
  perRequest(obs, N / 10); // warm up
  bare(N / 10);
  const on = perRequest(obs, N);
  const off = bare(N);
  console.log(`round ${round}: instrumented ${on.toFixed(1)} ns, bare loop ${off.toFixed(1)} ns per request`);
}
