/**
 * Gives every request an id (the client's `X-Request-Id` when it is a sane
 * token, else a new one), returns it in `X-Request-Id` (with `X-Content-Type-Options: nosniff` on every
 * answer), and writes one JSON log
 * line per request (level info, error for a 5xx) with method, route pattern, path, status and duration, and
 * the W3C trace id when the request carries a valid `traceparent` (an invalid
 * one is ignored, as the Trace Context spec asks). The same timing feeds every
 * `observer` (request metrics, the alerting error rate), so a request is
 * measured once, in one middleware: each middleware layer costs every request.
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Logger } from "../logger.ts";
import { parseTraceParent } from "../observability/trace-context.ts";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Hears of every request: when it starts, and how it ended. */
export interface RequestObserver {
  started(): void;
  /** `route`: the matched route pattern (`/v1/events/:id`, `/*` when none matched). */
  finished(method: string, route: string, status: number, seconds: number): void;
}

export function requestLog(logger: Logger, observers: readonly RequestObserver[] = []): MiddlewareHandler {
  const observer: RequestObserver | undefined = observers.length <= 1 ? observers[0] : {
    started: () => observers.forEach((o) => o.started()),
    finished: (...args) => observers.forEach((o) => o.finished(...args)),
  };
  return async (c, next) => {
    const started = performance.now();
    observer?.started();
    const given = c.req.header("x-request-id");
    const requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    c.set("requestId", requestId);
    const trace = parseTraceParent(c.req.header("traceparent"));
    if (trace) c.set("traceId", trace.traceId);
    try {
      await next();
    } finally {
      const ms = performance.now() - started;
      const status = c.res.status;
      // A failing request (5xx) is an error, so that LOG_LEVEL=warn or error still shows it.
      const level = status >= 500 ? "error" : "info";
      const logged = logger.enabled(level);
      // The route pattern, once, and only when someone needs it.
      const route = observer || logged ? routePath(c) : "";
      observer?.finished(c.req.method, route, status, ms / 1000);
      c.res.headers.set("X-Request-Id", requestId);
      // Every answer, JSON included: no browser may sniff a body into something executable.
      c.res.headers.set("X-Content-Type-Options", "nosniff");
      if (logged) {
        logger[level]("request", {
          requestId,
          ...(trace ? { traceId: trace.traceId, parentSpanId: trace.parentId } : {}),
          method: c.req.method,
          route,
          path: c.req.path,
          status,
          durationMs: Math.round(ms * 100) / 100,
        });
      }
    }
  };
}
