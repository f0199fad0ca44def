/**
 * Node entry (Node 20+): serves the same app with @hono/node-server.
 * `npm run start:node`. Configuration as for Deno (docs/CONFIGURATION.md).
 */
import { serve } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import { readDashboardFiles } from "../dashboard-files.ts";
import process from "node:process";
import { boot } from "../boot.ts";
import { nodeRealtime } from "./realtime.ts";

const dashboard = await readDashboardFiles();
const { adapter, server: wss } = nodeRealtime();
const booted = await boot(process.env, {
  dashboard,
  clientAddress: (c) => getConnInfo(c).remote.address ?? null,
  // @hono/node-server passes the ServerResponse as env.outgoing: destroying it closes the socket.
  dropConnection: (c) => (c.env as { outgoing?: { destroy(): void } }).outgoing?.destroy(),
  realtime: () => adapter,
});
if (!booted) process.exit(1);
const { config, logger, server } = booted;

const http = serve({
  fetch: server.app.fetch,
  port: config.port,
  hostname: config.host,
  websocket: { server: wss },
}, (info) => {
  logger.info("listening", { url: `http://${config.host}:${info.port}`, runtime: `node ${process.version}` });
});

const shutdown = () => {
  logger.info("shutting down");
  server.hub.closeAll("server shutting down");
  for (const ws of wss.clients) ws.terminate();
  http.close(async () => {
    await server.close();
    process.exit(0);
  });
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
