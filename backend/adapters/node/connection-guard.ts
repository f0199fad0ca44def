/**
 * Connection bounds (`ConnectionLimits`) on Node's HTTP server.
 *
 * - `headersTimeout` is Node's own: a request head not complete within it is
 *   answered 408 and the socket closed. Node checks it every
 *   `connectionsCheckingInterval` (30 s by default, which would let a
 *   trickling client hold its socket up to 40 s): `serverOptions` sets that to
 *   a quarter of the timeout.
 * - `keepAliveTimeout` is Node's: an idle socket after a response closes.
 * - `requestTimeout` (Node's total time for a request, 300 s by default) is
 *   off: a body is bounded by the app (`REQUEST_TIMEOUT_MS`, and an import by
 *   its own deadline), and Node's would cut long imports.
 * - the cap on open connections gates Node's `connection` listener: over it a
 *   socket gets a raw 503 with `Retry-After` and is closed before the HTTP
 *   parser sees it. Upgraded (WebSocket) sockets stay counted until they close.
 *
 * Closes are logged through `ConnectionCloseLog` (one summary line per reason
 * and 10 s).
 */
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { ConnectionLimits } from "../../config.ts";
import type { Logger } from "../../logger.ts";
import { ConnectionCloseLog, refusedConnectionResponse } from "../../http/connection-limits.ts";

/** Options for `http.createServer` that the limits need at construction. */
export function guardedServerOptions(limits: ConnectionLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: 0,
    connectionsCheckingInterval: Math.max(50, Math.floor(limits.headersTimeoutMs / 4)),
  };
}

/** Installs the connection cap and the close log on `server` (created with `guardedServerOptions`). */
export function guardConnections(
  server: Server<typeof IncomingMessage, typeof ServerResponse>,
  limits: ConnectionLimits,
  logger: Logger,
): { open(): number; closes: ConnectionCloseLog } {
  const closes = new ConnectionCloseLog(logger, {
    maxConnections: limits.maxConnections,
    headersTimeoutMs: limits.headersTimeoutMs,
    keepAliveTimeoutMs: limits.keepAliveTimeoutMs,
  });
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = 0;
  const refusal = refusedConnectionResponse(limits.maxConnections);
  let open = 0;
  const parse = server.listeners("connection") as ((socket: Socket) => void)[];
  server.removeAllListeners("connection");
  server.on("connection", (socket: Socket) => {
    if (open >= limits.maxConnections) {
      closes.note("refused");
      socket.on("error", () => {});
      socket.end(refusal);
      setTimeout(() => socket.destroy(), 500).unref();
      return;
    }
    open++;
    socket.once("close", () => open--);
    for (const listener of parse) listener.call(server, socket);
  });
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === "ECONNRESET") {
      socket.destroy(); // the client went away; nothing to answer or count
      return;
    }
    const timeout = error.code === "ERR_HTTP_REQUEST_TIMEOUT";
    closes.note(timeout ? "header_timeout" : "bad_request");
    // As Node's default: answer only when nothing was written on this socket yet.
    if (socket.writable && socket.bytesWritten === 0) {
      const status = timeout
        ? "408 Request Timeout"
        : error.code === "HPE_HEADER_OVERFLOW"
        ? "431 Request Header Fields Too Large"
        : "400 Bad Request";
      socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });
  return { open: () => open, closes };
}
