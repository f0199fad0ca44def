/**
 * WebSockets on Deno: Hono's Deno helper over `Deno.upgradeWebSocket`. Deno
 * pings an idle socket itself and closes it when no pong arrives within
 * `idleTimeout`, which is the heartbeat: a dead peer is dropped within two
 * heartbeat intervals.
 */
import { upgradeWebSocket } from "hono/deno";
import type { UpgradeWebSocket } from "hono/ws";
import type { RealtimeAdapter } from "../../http/stream-routes.ts";

export function denoRealtime(heartbeatMs: number): RealtimeAdapter {
  const idleTimeout = Math.max(1, Math.round((2 * heartbeatMs) / 1000));
  const upgrade =
    ((createEvents: Parameters<typeof upgradeWebSocket>[0]) =>
      upgradeWebSocket(createEvents as never, { idleTimeout })) as unknown as UpgradeWebSocket<unknown>;
  // Deno.serve keeps a connection open after a streamed body that ended, even with Connection: close.
  return { upgradeWebSocket: upgrade, keepsEndedStreamsOpen: true };
}
