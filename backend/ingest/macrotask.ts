/**
 * Runs a callback as the next macrotask, after I/O callbacks that are already
 * due, without a timer. `setTimeout(fn, 0)` is clamped to ~1–2 ms on some
 * runtimes (measured 2.1 ms under Deno 2.9 here), which would add that much to
 * every group commit; a MessageChannel post costs ~3.5 µs. Web-standard, so it
 * runs on Deno, Node and edge runtimes.
 */
export interface Macrotask {
  /** Requests one run of the callback (calls before it runs coalesce). */
  schedule(): void;
  /** Releases the channel. */
  close(): void;
}

export function createMacrotask(callback: () => void): Macrotask {
  const channel = new MessageChannel();
  let pending = false;
  channel.port1.onmessage = () => {
    pending = false;
    callback();
  };
  // A listening port would keep Node's event loop alive for ever; the work it schedules is tied to requests.
  (channel.port1 as { unref?: () => void }).unref?.();
  return {
    schedule() {
      if (pending) return;
      pending = true;
      channel.port2.postMessage(null);
    },
    close() {
      channel.port1.close();
      channel.port2.close();
    },
  };
}

/**
 * Resolves as the next macrotask: a long chain of awaits on a driver that answers on the calling
 * thread never leaves the microtask queue, so work queued meanwhile (a group commit, a request) waits
 * for its end. Awaiting this between steps lets it run.
 */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/**
 * Resolves after the runtime's timers had their turn (`setTimeout(0)`, ~1–2 ms): for work that
 * yields in a long chain of slices (long reads, alert evaluation). A chain of `nextMacrotask`
 * (MessageChannel) turns keeps Deno's event loop from parking, and its driver then polls I/O and
 * timers only every ~61 turns: measured, timers fired 2.4 s late with 40 ms read steps, and 65
 * evaluation slices of an alert round ran in 1.45 s while a 10 ms interval never fired
 * (docs/PERFORMANCE.md). Timers drive the engine's tick, flushes and timeouts.
 */
export function nextTimerTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
