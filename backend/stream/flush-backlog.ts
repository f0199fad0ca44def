/**
 * How far the stream engine's rollup flushes lag behind ingestion, counted in
 * tracked devices that opened new per-device state (a few kilobytes each until
 * a flush takes its deltas). At half of `STREAM_MAX_UNFLUSHED_DEVICES` a flush
 * is due at once instead of at the next timer tick, so that steady traffic over
 * many devices (a fleet whose tracked devices come round again every few
 * minutes: thousands of devices a second opening new windows) is flushed in
 * step with it and never meets the bound. Past the bound, the hard backstop,
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
  #behind = false;

  constructor(
    private readonly engine: DeviceCounter,
    private readonly logger: Logger,
    /** Most devices opened since that take; Infinity: unbounded. */
    private readonly maxDevices: number,
  ) {}

  /** The count to pass to `settled` once the flush taking its deltas now is applied. */
  taking(): number {
    return this.engine.devicesOpened;
  }

  /** A flush that took its deltas at `taken` (from `taking`) was applied or parked. */
  settled(taken: number): void {
    this.#flushed = taken;
  }

  /** Whether half the bound or more wait for a flush: one should start now, not at the next tick. */
  due(): boolean {
    return (this.engine.devicesOpened - this.#flushed) * 2 >= this.maxDevices;
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
