/**
 * How far the stream engine's rollup flushes lag behind ingestion, counted in
 * per-device cells (a tracked device's second: a few kilobytes of state each
 * until a flush takes its deltas). Past `STREAM_MAX_UNFLUSHED_CELLS` the
 * stream service reports itself behind, the group committer refuses new work
 * (503 with Retry-After) and a flush starts: so unflushed state, the size of
 * the next flush and the replay after a SIGKILL stay bounded however fast new
 * devices arrive.
 */
import type { Logger } from "../logger.ts";

/** What the backlog reads of the engine. */
export interface CellCounter {
  /** Per-device cells created since start. */
  readonly deviceCellsCreated: number;
}

export class FlushBacklog {
  /** `deviceCellsCreated` when the last applied (or parked) flush took its deltas. */
  #flushed = 0;
  #behind = false;

  constructor(
    private readonly engine: CellCounter,
    private readonly logger: Logger,
    /** Most cells created since that take; Infinity: unbounded. */
    private readonly maxCells: number,
  ) {}

  /** The count to pass to `settled` once the flush taking its deltas now is applied. */
  taking(): number {
    return this.engine.deviceCellsCreated;
  }

  /** A flush that took its deltas at `taken` (from `taking`) was applied or parked. */
  settled(taken: number): void {
    this.#flushed = taken;
  }

  /** Whether more cells than the bound wait for a flush; logs once when an episode starts. */
  behind(): boolean {
    const unflushed = this.engine.deviceCellsCreated - this.#flushed;
    const behind = unflushed > this.maxCells;
    if (behind && !this.#behind) {
      this.logger.warn("stream engine behind its rollup flushes: ingestion answers 503 until one lands", {
        unflushedCells: unflushed,
        maxUnflushedCells: this.maxCells,
      });
    }
    this.#behind = behind;
    return behind;
  }
}
