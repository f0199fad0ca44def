/**
 * Records every request in `pulsestream_http_request_duration_seconds` by
 * method, matched route pattern (Hono's, e.g. `/v1/events/:id`; `*` when no
 * route matched, so raw paths never become labels) and status code, and keeps
 * `pulsestream_http_requests_in_flight`. For streaming responses (SSE) the
 * duration ends when the response head is ready.
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Observability } from "../observability/observability.ts";

export function httpMetrics(observability: Observability): MiddlewareHandler {
  const inFlight = observability.httpInFlight;
  return async (c, next) => {
    const started = performance.now();
    inFlight.inc();
    try {
      await next();
    } finally {
      inFlight.dec();
      observability.observeRequest(
        c.req.method,
        routePath(c),
        c.res.status,
        (performance.now() - started) / 1000,
      );
    }
  };
}
