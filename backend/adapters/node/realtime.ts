/**
 * WebSockets on Node: @hono/node-server's helper over the `ws` package. The
 * server pings every heartbeat interval and terminates a socket that has not
 * answered the previous ping, so a dead peer is dropped within two intervals.
 */
import { upgradeWebSocket } from "@hono/node-server";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import { WebSocketServer } from "ws";
import type { RealtimeAdapter } from "../../http/stream-routes.ts";

interface PingableSocket {
  ping(): void;
  terminate(): void;
  on(event: "pong", listener: () => void): void;
  send(data: Uint8Array, options: { binary: boolean }): void;
}

/**
 * `maxPayload`: the largest frame, bytes. `ws` checks it against the frame header and closes
 * with 1009 before buffering the payload (pass `MAX_BODY_BYTES`, the ingest frame limit).
 */
export function nodeRealtime(
  options: { maxPayload?: number } = {},
): { adapter: RealtimeAdapter; server: WebSocketServer } {
  const server = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload ?? 16 * 1024 * 1024 });
  const adapter: RealtimeAdapter = {
    upgradeWebSocket: upgradeWebSocket as unknown as UpgradeWebSocket<unknown>,
    keepAlive(ws: WSContext<unknown>, intervalMs: number, onDead?: () => void) {
      const raw = ws.raw as PingableSocket | undefined;
      if (!raw?.ping) return () => {};
      let alive = true;
      raw.on("pong", () => (alive = true));
      const timer = setInterval(() => {
        if (!alive) {
          onDead?.();
          raw.terminate();
          clearInterval(timer);
          return;
        }
        alive = false;
        raw.ping();
      }, intervalMs);
      return () => clearInterval(timer);
    },
    terminate(ws: WSContext<unknown>) {
      (ws.raw as PingableSocket | undefined)?.terminate();
    },
    sendUtf8Text(ws: WSContext<unknown>, bytes: Uint8Array) {
      // `binary: false` makes `ws` send the bytes as they are in a text frame (opcode 1).
      (ws.raw as PingableSocket).send(bytes, { binary: false });
    },
  };
  return { adapter, server };
}
