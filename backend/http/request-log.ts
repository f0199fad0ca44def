/**
 * Gives every request an id (the client's `X-Request-Id` when it is a sane
 * token, else a new one), returns it in `X-Request-Id`, and writes one JSON log
 * line per request with method, route pattern, path, status and duration, and
 * the W3C trace id when the request carries a valid `traceparent` (an invalid
 * one is ignored, as the Trace Context spec asks).
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Logger } from "../logger.ts";
import { parseTraceParent } from "../observability/trace-context.ts";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestLog(logger: Logger): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    const given = c.req.header("x-request-id");
    const requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    c.set("requestId", requestId);
    const trace = parseTraceParent(c.req.header("traceparent"));
    if (trace) c.set("traceId", trace.traceId);
    await next();
    c.res.headers.set("X-Request-Id", requestId);
    if (logger.enabled("info")) {
      logger.info("request", {
        requestId,
        ...(trace ? { traceId: trace.traceId, parentSpanId: trace.parentId } : {}),
        method: c.req.method,
        route: routePath(c),
        path: c.req.path,
        status: c.res.status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
      });
    }
  };
}
