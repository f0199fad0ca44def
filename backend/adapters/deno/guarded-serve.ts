/**
 * Deno's HTTP server with connection bounds (`ConnectionLimits`): a header
 * timeout, a keep-alive idle timeout and a cap on open connections.
 *
 * `Deno.serve` owns its sockets and has no option for any of these: a client
 * trickling header lines, or one that connects and sends nothing, holds its
 * socket for as long as it likes (measured on Deno 2.9: still open after 45 s,
 * and sockets idle after a response stay open). So this entry accepts the
 * connections itself (`Deno.listen`) and serves each one with the runtime's
 * per-connection HTTP server (`Deno.serveHttp`, the same hyper stack), which
 * shows where every request starts and ends:
 *
 * - from accept until the first request head is complete: `headersTimeoutMs`;
 * - from the end of a response until the next request head: `keepAliveTimeoutMs`;
 * - no timer while a request is in progress (its body is bounded by the app's
 *   `REQUEST_TIMEOUT_MS`, a live stream by its heartbeats);
 * - a timer that fires closes the connection (Deno cannot send a 408 on a
 *   connection whose head is half-read: the parser owns it);
 * - at `maxConnections` open, a new connection gets a raw 503 with
 *   `Retry-After` and is closed.
 *
 * What this cannot do (nor can `Deno.serve`): cancel a response write that is
 * blocked on a client that does not read. Closing the connection does not
 * abort it (measured: an SSE body the app errors after filling the socket
 * buffers keeps its connection until the client reads or goes away; and on
 * Deno 2.9.6 `close()` of the per-connection server, with or without the body
 * errored, left the socket established until the client read), so the live
 * and read streams bound what they buffer per client instead, and a read past
 * its deadline cannot drop its connection here as Node's `dropConnection`
 * does: that would take owning the socket (a relay in front of the runtime's
 * server, one more copy of every byte).
 *
 * A connection upgraded to a WebSocket leaves this count when the upgrade
 * completes: from then on it is bounded by the WebSocket caps
 * (`LIVE_MAX_SUBSCRIBERS`, `WS_INGEST_MAX_CONNECTIONS`) and its pings.
 *
 * The price is CPU: the per-connection server costs 12-17 µs more per request
 * than `Deno.serve` (docs/PERFORMANCE.md). `DENO_CONNECTION_GUARD=off` serves
 * with plain `Deno.serve` instead, for deployments whose proxy enforces these
 * bounds; so does a runtime without `Deno.serveHttp` (with a warning). Under
 * `deno serve` the runtime owns the listener, so they do not apply either.
 */
import type { ConnectionLimits } from "../../config.ts";
import type { Logger } from "../../logger.ts";
import { ConnectionCloseLog, refusedConnectionResponse } from "../../http/connection-limits.ts";
import type { ConnectionStats } from "../../observability/connection-collectors.ts";

/** What the app's `fetch` gets as its second argument (Hono's `getConnInfo` reads `remoteAddr`). */
export interface ServeInfo {
  remoteAddr: Deno.NetAddr;
}

/** A running server. */
export interface GuardedServer {
  /** Stops accepting, closes idle connections and waits for requests in progress. */
  shutdown(): Promise<void>;
  /** Connections closed by the server since start, by reason, and how many are open now (-1: untracked). */
  stats(): ConnectionStats;
}

interface LegacyRequestEvent {
  request: Request;
  respondWith(response: Response | Promise<Response>): Promise<void>;
}
interface LegacyHttpConn extends AsyncIterable<LegacyRequestEvent> {
  close(): void;
}
type ServeHttp = (conn: Deno.Conn) => LegacyHttpConn;

/** Serves `fetch` on `hostname:port` with `limits` (see the module comment). */
export function serveGuarded(
  fetch: (request: Request, info: ServeInfo) => Response | Promise<Response>,
  options: {
    hostname: string;
    port: number;
    limits: ConnectionLimits;
    logger: Logger;
    onListen(addr: Deno.NetAddr): void;
  },
): GuardedServer {
  if (!options.limits.denoGuard) {
    options.logger.info("connection guard off", { reason: "DENO_CONNECTION_GUARD=off: plain Deno.serve" });
    return plainServe(fetch, options);
  }
  const serveHttp = (Deno as unknown as { serveHttp?: ServeHttp }).serveHttp;
  if (typeof serveHttp !== "function") {
    options.logger.warn("connection limits not enforced", {
      reason:
        "this Deno has no Deno.serveHttp; HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS and MAX_CONNECTIONS need it",
    });
    return plainServe(fetch, options);
  }
  const { limits, logger } = options;
  const closes = new ConnectionCloseLog(logger, {
    maxConnections: limits.maxConnections,
    headersTimeoutMs: limits.headersTimeoutMs,
    keepAliveTimeoutMs: limits.keepAliveTimeoutMs,
  });
  const refusal = refusedConnectionResponse(limits.maxConnections);
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const open = new Set<Served>();
  let stopping = false;
  options.onListen(listener.addr);

  const accepting = (async () => {
    while (!stopping) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (stopping || error instanceof Deno.errors.BadResource) return;
        // E.g. EMFILE under a flood of sockets: keep serving the open ones and accept again soon.
        logger.error("accept failed; retrying in 100 ms", { error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (open.size >= limits.maxConnections) {
        closes.note("refused");
        refuse(conn, refusal);
        continue;
      }
      (conn as Deno.TcpConn).setNoDelay(true);
      const served = new Served(conn, serveHttp(conn), limits, closes);
      open.add(served);
      served.run(fetch).finally(() => open.delete(served));
    }
  })();

  return {
    async shutdown() {
      stopping = true;
      listener.close();
      await accepting;
      await Promise.allSettled([...open].map((s) => s.drain()));
      closes.stop();
    },
    stats: () => ({ open: open.size, closed: Object.fromEntries(closes.totals) }),
  };
}

/** One accepted connection and its timer. */
class Served {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #busy = false;
  #closed = false;
  #done: Promise<void> = Promise.resolve();

  constructor(
    private readonly conn: Deno.Conn,
    private readonly http: LegacyHttpConn,
    private readonly limits: ConnectionLimits,
    private readonly closes: ConnectionCloseLog,
  ) {}

  run(fetch: (request: Request, info: ServeInfo) => Response | Promise<Response>): Promise<void> {
    this.#arm(this.limits.headersTimeoutMs, "header_timeout");
    const info: ServeInfo = { remoteAddr: this.conn.remoteAddr as Deno.NetAddr };
    this.#done = (async () => {
      try {
        for await (const { request, respondWith } of this.http) {
          // A timer can close the connection in the loop turn in which its next request was read
          // (the timer runs first): that request can no longer be answered, so it must not run
          // either (an ingest would commit and its 202 be lost). It gets a 503 if the socket still
          // takes one, else the connection just ends, as in any keep-alive race: nothing was done.
          if (this.#closed) {
            await respondWith(new Response(null, { status: 503, headers: { "retry-after": "1" } }))
              .catch(() => {});
            break;
          }
          this.#disarm();
          this.#busy = true;
          try {
            await respondWith(fetch(request, info));
          } catch {
            // the client went away mid-response; the loop ends with the connection
          }
          this.#busy = false;
          this.#arm(this.limits.keepAliveTimeoutMs, "idle");
        }
      } catch {
        // connection reset or closed by a timer
      } finally {
        this.#disarm();
      }
    })();
    return this.#done;
  }

  /** Closes the connection now unless a request is in progress; resolves when it has ended. */
  drain(): Promise<void> {
    if (!this.#busy) this.#close();
    return this.#done;
  }

  #arm(ms: number, reason: "header_timeout" | "idle"): void {
    this.#disarm();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.closes.note(reason);
      this.#close();
    }, ms);
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #close(): void {
    this.#closed = true;
    try {
      this.http.close();
    } catch {
      // already closed
    }
  }
}

/** Writes the 503, ends our side, and closes a moment later (so the peer reads it before any reset). */
function refuse(conn: Deno.Conn, bytes: Uint8Array): void {
  const close = () => {
    try {
      conn.close();
    } catch {
      // already closed by the peer
    }
  };
  conn.write(bytes).then(() => conn.closeWrite()).then(
    () => setTimeout(close, 500),
    close,
  );
}

function plainServe(
  fetch: (request: Request, info: ServeInfo) => Response | Promise<Response>,
  options: { hostname: string; port: number; onListen(addr: Deno.NetAddr): void },
): GuardedServer {
  const server = Deno.serve(
    { hostname: options.hostname, port: options.port, onListen: options.onListen },
    fetch,
  );
  return { shutdown: () => server.shutdown(), stats: () => ({ open: -1, closed: {} }) };
}
