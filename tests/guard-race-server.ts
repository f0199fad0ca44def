/**
 * A server process for tests/guard-keepalive-race.test.ts: the Deno connection guard
 * (backend/adapters/deno/guarded-serve.ts) with a 100 ms keep-alive timeout, in front of a handler
 * that records each request it runs (stdout `handled <body>`), while the event loop stalls 40 ms
 * out of every ~50 (as a busy server's does under a rollup flush or a large commit). A request
 * that arrives as the keep-alive timer fires then reaches the loop in the same turn as the timer.
 *
 *   deno run -A tests/guard-race-server.ts   (prints `listening <port>` first)
 */
import { serveGuarded } from "../backend/adapters/deno/guarded-serve.ts";
import { createLogger } from "../backend/logger.ts";

const server = serveGuarded(async (request) => {
  const body = await request.text();
  console.log(`handled ${body}`);
  return new Response(body);
}, {
  hostname: "127.0.0.1",
  port: 0,
  logger: createLogger("error"),
  limits: { headersTimeoutMs: 10_000, keepAliveTimeoutMs: 100, maxConnections: 100, denoGuard: true },
  onListen: ({ port }) => console.log(`listening ${port}`),
});
setInterval(() => {
  const until = performance.now() + 40;
  while (performance.now() < until) { /* a stalled loop */ }
}, 10);
Deno.addSignalListener("SIGTERM", () => {
  console.log(`closed ${JSON.stringify(server.stats().closed)}`);
  Deno.exit(0);
});
