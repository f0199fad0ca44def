/**
 * The middleware in front of reads (after `requireScope`): charges the key's
 * read rate (429 + Retry-After + RateLimit-* headers), and for heavy reads
 * takes a slot of the `ReadGate` (429 per key, 503 in total, with Retry-After)
 * that is held until the answer's last byte has been taken, with a total
 * deadline after which the answer is cut and its connection dropped (logged).
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Logger } from "../logger.ts";
import type { ReadGate } from "../reads/read-gate.ts";
import { deadlineBody } from "../reads/deadline-body.ts";
import type { AppEnv } from "./app-env.ts";

/** What the read routes need to admit reads. */
export interface ReadAdmissionDeps {
  gate: ReadGate;
  logger: Logger;
  /**
   * Closes the request's connection (runtime adapter). Erroring the body alone does not close a
   * connection whose write waits for a client that does not read: the runtime reads the body only
   * once that write completes.
   */
  dropConnection?: (c: Context<AppEnv>) => void;
}

/**
 * Admits one read. `heavy`: the read holds a concurrency slot and runs under the deadline
 * (metric series, listings, exports); otherwise it is only charged to the rate.
 */
export function readAdmission(
  deps: ReadAdmissionDeps,
  options: { heavy: boolean },
): MiddlewareHandler<AppEnv> {
  const { gate, logger } = deps;
  return async (c, next) => {
    const principal = c.get("principal");
    const headers = gate.charge(principal.keyId);
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
    if (!options.heavy) return await next();
    const ticket = gate.enter(principal.keyId);
    const started = Date.now();
    try {
      await next();
    } catch (error) {
      ticket.release();
      throw error;
    }
    const res = c.res;
    if (!res.body) {
      ticket.release();
      return;
    }
    const ms = Math.max(1, gate.limits.timeoutMs - (Date.now() - started));
    const body = deadlineBody(res.body, ms, {
      onEnd: () => ticket.release(),
      onExpired: () => {
        gate.counters.deadlines++;
        logger.warn("read deadline passed: answer cut and connection closed", {
          requestId: c.get("requestId"),
          keyId: principal.keyId,
          path: c.req.path,
          timeoutMs: gate.limits.timeoutMs,
        });
        deps.dropConnection?.(c);
      },
    });
    // A handler that built its own Response (exports) did not get the headers set above.
    const out = new Headers(res.headers);
    for (const [name, value] of Object.entries(headers)) out.set(name, value);
    c.res = new Response(body, { status: res.status, statusText: res.statusText, headers: out });
  };
}
