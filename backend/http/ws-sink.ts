/**
 * A live subscriber's WebSocket as a hub `Sink`, bounded by the socket's
 * `bufferedAmount` (bytes the runtime has been handed but not yet written to
 * the network; both Deno's WebSocket and Node's `ws` report it).
 *
 * A batch is sent only once the socket has written most of the previous one, and
 * what the socket still holds is reported to the hub (`buffered`), which
 * counts it in the subscriber's bytes. Sockets waiting to send are polled by
 * one shared timer, soon after their last write and then less often.
 *
 * `close` sends close code 4008 with the reason, and where the runtime can
 * (Node: `terminate`) drops the connection if the close handshake has not
 * finished within the grace period — a peer that stops reading never
 * finishes it. Deno offers no way to abort an upgraded socket with a pending
 * write: there the close frame waits behind the unread bytes (at most the
 * byte bound plus the kernel's socket buffer) and the connection ends when
 * the peer reads or goes away; its slot stays counted until then.
 */
import type { WSContext } from "hono/ws";
import type { OutMessage } from "../realtime/live-messages.ts";
import type { Sink } from "../realtime/live-hub.ts";

/**
 * Delays between checks of one waiting socket, ms: the first soon after the write, then
 * doubling up to the last. The runtime does not say when a socket's buffer drains (Deno's
 * WebSocket has no event for it; its `bufferedAmount` drops once the event loop has written
 * the frame), so a socket whose peer reads is seen drained on the next turns, while one whose
 * peer stopped reading costs a check every 10 ms.
 */
const POLL_DELAYS_MS = [1, 2, 4, 8, 10];
/** Bytes the socket may still hold when the next frame is sent (one frame in flight keeps it busy). */
const PIPELINE_BYTES = 64 * 1024;

interface Waiter {
  ready(): boolean;
  resolve(): void;
  /** When to check next (`performance.now()`, ms), and how many checks found the socket busy. */
  due: number;
  checks: number;
}

/** Sockets waiting for their buffer to drain, checked by one timer set for the earliest due. */
const waiters = new Set<Waiter>();
let timer: ReturnType<typeof setTimeout> | null = null;
let timerDue = Infinity;

function schedule(due: number): void {
  if (due >= timerDue) return;
  if (timer !== null) clearTimeout(timer);
  timerDue = due;
  timer = setTimeout(checkWaiters, Math.max(0, due - performance.now()));
}

function checkWaiters(): void {
  timer = null;
  timerDue = Infinity;
  const now = performance.now();
  let next = Infinity;
  for (const w of waiters) {
    if (w.due <= now) {
      if (w.ready()) {
        waiters.delete(w);
        w.resolve();
        continue;
      }
      w.due = now + POLL_DELAYS_MS[Math.min(++w.checks, POLL_DELAYS_MS.length - 1)];
    }
    if (w.due < next) next = w.due;
  }
  if (next < Infinity) schedule(next);
}

function waitUntil(ready: () => boolean): Promise<void> {
  if (ready()) return Promise.resolve();
  return new Promise((resolve) => {
    const waiter = { ready, resolve, due: performance.now() + POLL_DELAYS_MS[0], checks: 0 };
    waiters.add(waiter);
    schedule(waiter.due);
  });
}

export interface WsSinkOptions {
  /** The frame of a batch (shared by the subscribers handed the same batch). */
  frame(messages: readonly OutMessage[]): string | Uint8Array;
  /** Sends UTF-8 bytes as one text frame (Node's `ws`). */
  sendUtf8?: (ws: WSContext<unknown>, bytes: Uint8Array) => void;
  /** Drops the connection at once (Node's `ws` `terminate`). */
  terminate?: (ws: WSContext<unknown>) => void;
  /** How long a closed socket may take to finish its close handshake before it is dropped, ms. */
  graceMs: number;
}

export function wsSink(ws: WSContext<unknown>, options: WsSinkOptions): Sink {
  const raw = ws.raw as { bufferedAmount?: number } | undefined;
  const buffered = () => raw?.bufferedAmount ?? 0;
  let closed = false;
  return {
    async send(messages) {
      // At most about two frames in the runtime: what a peer that stopped reading did not take is
      // small (the hub's batches are ~64 KiB), and the hub counts it while it is there.
      await waitUntil(() => closed || buffered() <= PIPELINE_BYTES);
      const frame = options.frame(messages);
      if (closed) return;
      if (typeof frame === "string") ws.send(frame);
      else options.sendUtf8!(ws, frame);
    },
    buffered,
    close(reason) {
      if (closed) return;
      closed = true;
      // A close reason is at most 123 bytes (RFC 6455 5.5: control frames carry 125).
      ws.close(4008, reason.slice(0, 120));
      if (options.terminate) {
        const terminate = options.terminate;
        setTimeout(() => {
          if (ws.readyState !== 3) terminate(ws);
        }, options.graceMs);
      }
    },
  };
}
