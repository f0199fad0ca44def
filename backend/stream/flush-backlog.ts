/**
 * How far the stream engine's rollup flushes lag behind ingestion, counted in
 * tracked devices that opened new per-device state (a few kilobytes each until
 * a flush takes its deltas). When half of `STREAM_MAX_UNFLUSHED_DEVICES` opened
 * since the latest flush took its deltas, the next flush is due at once (after
 * the one in flight, if any) instead of at the next timer tick, so that steady
 * traffic over many devices (a fleet whose tracked devices come round again
 * every few minutes: thousands a second opening new windows) is flushed in
 * step with it. Past the bound, the hard backstop,
 * the stream service reports itself behind, the group committer refuses new
 * work (503 with Retry-After) and a flush starts: so unflushed state, the size
 * of the next flush and the replay after a SIGKILL stay bounded however fast
 * new devices arrive.
 */
import type { Logger } from "../logger.ts";

/** What the backlog reads of the engine. */
export interface DeviceCounter {
  /** Tracked devices that opened new per-device state, since start (`StreamEngine.devicesOpened`). */
  readonly devicesOpened: number;
}

export class FlushBacklog {
  /** `devicesOpened` when the last applied (or parked) flush took its deltas. */
  #flushed = 0;
  /** `devicesOpened` when the latest flush (applied or in flight) took its deltas. */
  #taken = 0;
  #behind = false;

  constructor(
    private readonly engine: DeviceCounter,
    private readonly logger: Logger,
    /** Most devices opened since that take; Infinity: unbounded. */
    private readonly maxDevices: number,
  ) {}

  /** The count to pass to `settled` once the flush taking its deltas now is applied. */
  taking(): number {
    return this.#taken = this.engine.devicesOpened;
  }

  /** A flush that took its deltas at `taken` (from `taking`) was applied or parked. */
  settled(taken: number): void {
    this.#flushed = taken;
  }

  /**
   * Whether half the bound or more opened since the latest flush took its deltas: the next flush
   * should start now (or right after the one in flight), not at the next tick.
   */
  due(): boolean {
    return (this.engine.devicesOpened - this.#taken) * 2 >= this.maxDevices;
  }

  /** Whether more devices than the bound wait for a flush; logs once when an episode starts. */
  behind(): boolean {
    const unflushed = this.engine.devicesOpened - this.#flushed;
    const behind = unflushed > this.maxDevices;
    if (behind && !this.#behind) {
      this.logger.warn("stream engine behind its rollup flushes: ingestion answers 503 until one lands", {
        unflushedDevices: unflushed,
        maxUnflushedDevices: this.maxDevices,
      });
    }
    this.#behind = behind;
    return behind;
  }
}
