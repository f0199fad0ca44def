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
import { guardConnections, guardedServerOptions } from "./connection-guard.ts";
import { registerConnectionCollectors } from "../../observability/connection-collectors.ts";
import type { Server } from "node:http";
import type { WebSocketServer } from "ws";

const dashboard = await readDashboardFiles();
let wss: WebSocketServer | undefined;
const booted = await boot(process.env, {
  dashboard,
  clientAddress: (c) => getConnInfo(c).remote.address ?? null,
  // @hono/node-server passes the ServerResponse as env.outgoing: destroying it closes the socket.
  dropConnection: (c) => (c.env as { outgoing?: { destroy(): void } }).outgoing?.destroy(),
  realtime: (config) => {
    // Frames over MAX_BODY_BYTES are refused by `ws` from the frame header, before buffering.
    const realtime = nodeRealtime({ maxPayload: config.requestLimits.maxBodyBytes });
    wss = realtime.server;
    return realtime.adapter;
  },
});
if (!booted || !wss) process.exit(1);
const { config, logger, server } = booted;
const sockets = wss;

const http = serve({
  fetch: server.app.fetch,
  port: config.port,
  hostname: config.host,
  websocket: { server: sockets },
  serverOptions: guardedServerOptions(config.connections),
}, (info) => {
  logger.info("listening", { url: `http://${config.host}:${info.port}`, runtime: `node ${process.version}` });
});
const guard = guardConnections(http as Server, config.connections, logger);
registerConnectionCollectors(server.observability.registry, () => ({
  open: guard.open(),
  closed: Object.fromEntries(guard.closes.totals),
}));

const shutdown = () => {
  logger.info("shutting down");
  server.hub.closeAll("server shutting down");
  for (const ws of sockets.clients) ws.terminate();
  http.close(async () => {
    await server.close();
    process.exit(0);
  });
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
