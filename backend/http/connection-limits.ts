/**
 * What the runtime entries need to bound connections (`ConnectionLimits` in config.ts, set
 * from the configuration), without a runtime API: the raw answer to a
 * connection refused over `MAX_CONNECTIONS`, and a log of connection-level
 * closes that writes one summary line per reason and interval instead of one
 * per socket, so that an attack of thousands of sockets cannot flood the log.
 *
 * The guards themselves live with the servers: `adapters/deno/guarded-serve.ts`
 * and `adapters/node/connection-guard.ts`.
 */
import type { Logger } from "../logger.ts";
import type { ConnectionCloseReason } from "../observability/connection-collectors.ts";

/**
 * The bytes sent on a connection refused because `maxConnections` are open: a complete HTTP/1.1
 * 503 with `Retry-After` and PulseStream's error envelope, then the server closes.
 */
export function refusedConnectionResponse(maxConnections: number, retryAfterSeconds = 1): Uint8Array {
  const message = `The server holds ${maxConnections} connections (MAX_CONNECTIONS); retry later`;
  const body = JSON.stringify({
    status: "error",
    message,
    errors: [{ field: "connection", message: "too many connections" }],
  });
  const head = [
    "HTTP/1.1 503 Service Unavailable",
    "Content-Type: application/json",
    `Content-Length: ${new TextEncoder().encode(body).byteLength}`,
    `Retry-After: ${retryAfterSeconds}`,
    "Connection: close",
  ].join("\r\n");
  return new TextEncoder().encode(`${head}\r\n\r\n${body}`);
}

/**
 * Counts connection closes by reason and logs each reason at most once per `intervalMs`: the
 * first close of a reason at once, the rest of its interval in one summary line
 * `{"msg":"connections closed","reason":"header_timeout","count":499,"withinMs":10000,…}`.
 */
export class ConnectionCloseLog {
  #pending = new Map<ConnectionCloseReason, number>();
  #timers = new Map<ConnectionCloseReason, ReturnType<typeof setTimeout>>();
  /** Closes since start, by reason (for tests and diagnostics). */
  readonly totals = new Map<ConnectionCloseReason, number>();

  constructor(
    private readonly logger: Logger,
    private readonly limits: Record<string, number>,
    private readonly intervalMs = 10_000,
  ) {}

  /** Records one close. */
  note(reason: ConnectionCloseReason): void {
    this.totals.set(reason, (this.totals.get(reason) ?? 0) + 1);
    if (reason === "idle") {
      this.logger.debug("connection closed", { reason });
      return;
    }
    if (this.#timers.has(reason)) {
      this.#pending.set(reason, (this.#pending.get(reason) ?? 0) + 1);
      return;
    }
    this.logger.warn("connections closed", { reason, count: 1, ...this.limits });
    this.#timers.set(reason, setTimeout(() => this.#flush(reason), this.intervalMs));
  }

  #flush(reason: ConnectionCloseReason): void {
    const count = this.#pending.get(reason) ?? 0;
    this.#pending.delete(reason);
    this.#timers.delete(reason);
    if (count === 0) return;
    this.logger.warn("connections closed", { reason, count, withinMs: this.intervalMs, ...this.limits });
    this.#timers.set(reason, setTimeout(() => this.#flush(reason), this.intervalMs));
  }

  /** Stops the summary timers (at shutdown). */
  stop(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
