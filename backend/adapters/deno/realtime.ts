/**
 * WebSockets on Deno: Hono's Deno helper over `Deno.upgradeWebSocket`. Deno
 * pings an idle socket itself and closes it when no pong arrives within
 * `idleTimeout`, which is the heartbeat: a dead peer is dropped within two
 * heartbeat intervals.
 */
import { upgradeWebSocket } from "hono/deno";
import type { UpgradeWebSocket } from "hono/ws";
import type { RealtimeAdapter } from "../../http/stream-routes.ts";

/**
 * `servedByDenoServe`: whether `Deno.serve` serves the connections (under `deno serve`, or with
 * `DENO_CONNECTION_GUARD=off`); the guarded server (`guarded-serve.ts`) closes a connection once a
 * streamed body with `Connection: close` ended, as Node does.
 */
export function denoRealtime(heartbeatMs: number, servedByDenoServe = true): RealtimeAdapter {
  const idleTimeout = Math.max(1, Math.round((2 * heartbeatMs) / 1000));
  const upgrade =
    ((createEvents: Parameters<typeof upgradeWebSocket>[0]) =>
      upgradeWebSocket(createEvents as never, { idleTimeout })) as unknown as UpgradeWebSocket<unknown>;
  // Deno.serve keeps a connection open after a streamed body that ended, even with Connection: close,
  // so an ended stream is failed instead; failing it under the guarded server loses its last frame.
  return { upgradeWebSocket: upgrade, keepsEndedStreamsOpen: servedByDenoServe };
}
