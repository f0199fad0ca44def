/**
 * Event-loop delay by timer drift: a timer asks to run every `intervalMs`; how
 * much later than asked it actually runs is the time the loop was busy with
 * other work. Web-standard timers and `performance.now()` only, so it works on
 * every runtime (Node's `monitorEventLoopDelay` is Node-only).
 */
import type { HistogramChild } from "./registry.ts";

export interface EventLoopDelayOptions {
  /** Sampling period, ms (default 100). */
  intervalMs?: number;
  /** Monotonic ms clock (default `performance.now`). */
  now?: () => number;
}

export class EventLoopDelaySampler {
  #timer: ReturnType<typeof setTimeout> | null = null;
  #expected = 0;
  #maxMs = 0;
  readonly #intervalMs: number;
  readonly #now: () => number;

  /** Records each sample, in seconds, into `histogram`. */
  constructor(private readonly histogram: HistogramChild, options: EventLoopDelayOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 100;
    this.#now = options.now ?? (() => performance.now());
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#arm();
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** The largest delay seen since the last call, ms (then starts over). */
  takeMaxMs(): number {
    const max = this.#maxMs;
    this.#maxMs = 0;
    return max;
  }

  /** One sample: how late the timer fired. Exposed for tests with a fake `now`. */
  sample(): number {
    const delay = Math.max(0, this.#now() - this.#expected);
    this.histogram.observe(delay / 1000);
    if (delay > this.#maxMs) this.#maxMs = delay;
    return delay;
  }

  #arm(): void {
    this.#expected = this.#now() + this.#intervalMs;
    const timer = setTimeout(() => {
      this.sample();
      if (this.#timer !== null) this.#arm();
    }, this.#intervalMs);
    // Never keep a process alive only to measure it (Node timers have unref; others ignore this).
    (timer as { unref?: () => void }).unref?.();
    this.#timer = timer;
  }
}
