/**
 * The stream-processing engine: committed events → event-time windows.
 *
 * Pure TypeScript with an injected clock; no storage or runtime imports. The
 * server feeds it every committed event in commit order (`ingest`), calls
 * `tick` on a timer, and periodically hands `takeFlush()` to the store, which
 * folds the deltas into the rollup tables together with the checkpoint
 * (docs/ARCHITECTURE.md, "Stream processing").
 *
 * Shape of the work:
 * - Events are routed to partitions by their `partition` (a stable hash of
 *   `deviceId`); a partition sees its events in commit order and keeps its own
 *   watermark, so per-device order is kept.
 * - Per event, one cheap update: the event lands in its device's cell at the
 *   finest resolution (1 s by default), in a `pending` aggregate.
 * - A fold (each tick, and before every flush) merges each pending cell into
 *   the per-device and all-device windows of every resolution. Stored
 *   resolutions collect a `delta` (what the store has not seen yet); live-only
 *   ones (finer than a minute) accumulate in memory only.
 * - A window closes when its partition's watermark (all-device windows: the
 *   lowest watermark) passes its end. Watermark = latest event time seen
 *   (capped at the clock) minus the allowed lateness; a partition without
 *   events for `idleMs` follows the clock instead.
 * - An event whose finest window already closed is late: it is counted and
 *   still folded into every window it belongs to (a correction), which the
 *   store merges into the stored bucket; the corrected value is announced after
 *   the flush.
 *
 * The state and the fold are `window-index.ts`; the flush hand-off is
 * `flush-handoff.ts`; the state's types are `windows.ts`.
 */
import type { Clock } from "../clock.ts";
import type { EnrichedEvent } from "../../shared/event.ts";
import { partitionOf } from "../../shared/partition.ts";
import { Agg, type AggState } from "./aggregate.ts";
import { discardFlush, returnFailedFlush, settleFlushed, takeFlush } from "./flush-handoff.ts";
import { hash32 } from "./hll.ts";
import {
  type SeriesAdmission,
  SeriesBudget,
  type SeriesBudgetFigures,
  type SeriesCount,
} from "./series-budget.ts";
import {
  openWindows,
  type OpenWindowsFilter,
  type UnflushedRollup,
  unflushedRollups,
  type UnflushedRollupsQuery,
  type UnflushedSeries,
  unflushedSeries,
  type UnflushedSeriesQuery,
} from "./engine-reads.ts";
import { type EngineStateSizes, WindowIndex } from "./window-index.ts";
import {
  cellMessage,
  type LiveMessage,
  type Partition,
  type RollupDelta,
  type TakenFlush,
  type Window,
  type WindowMessage,
  windowMessage,
  windowStart,
} from "./windows.ts";

/** A committed event, as the engine needs it. */
export type EngineEvent =
  & Pick<EnrichedEvent, "deviceId" | "eventType" | "value" | "timestamp" | "receivedAt" | "partition">
  & { seq: number };

export interface EngineOptions {
  partitions: number;
  /** Window sizes in ms, ascending; each divides the next. */
  resolutions: readonly number[];
  /** Resolutions at or above this are stored as rollups; finer ones are live only. */
  storedMinResolution: number;
  allowedLatenessMs: number;
  /** A partition without events for this long lets its watermark follow the clock. */
  idleMs: number;
  clock: Clock;
  /** Receives live output: open-window updates, closed windows, corrections. */
  publish?: (message: LiveMessage) => void;
  /** Whether open-window updates are wanted (skips computing them when nobody listens). */
  wantsUpdates?: () => boolean;
  /** Receive → in-live-aggregate latency of each event, ms (not called for replayed events). */
  onLatency?: (ms: number) => void;
  /** Most per-device series aggregated per device (series-budget.ts); default: all. */
  maxSeries?: number;
  /**
   * The series budget to decide by, instead of a new one of `maxSeries`: a dead-letter replay
   * engine shares the live engine's.
   */
  budget?: SeriesAdmission;
}

export {
  type FlushBatch,
  type LiveMessage,
  type RollupDelta,
  type SeriesDelta,
  type TakenFlush,
  type WindowMessage,
  type WindowValues,
  windowValues,
} from "./windows.ts";
export { type EngineStateSizes, MAX_PARTITION_LAG_MS } from "./window-index.ts";

export class StreamEngine {
  readonly #options: EngineOptions;
  readonly #index: WindowIndex;
  readonly #budget: SeriesAdmission;
  readonly #admit: (eventType: string, deviceId: string) => boolean;
  #lastSeq = 0;
  #lateEvents = 0;
  #processed = 0;

  constructor(options: EngineOptions) {
    const res = options.resolutions;
    if (res.length === 0) throw new Error("at least one resolution is needed");
    for (let i = 1; i < res.length; i++) {
      if (res[i] <= res[i - 1] || res[i] % res[i - 1] !== 0) {
        throw new Error("resolutions must ascend and each must divide the next");
      }
    }
    this.#options = options;
    this.#index = new WindowIndex(options);
    this.#budget = options.budget ?? new SeriesBudget(options.maxSeries ?? Infinity);
    this.#admit = (eventType, deviceId) => this.#budget.admit(eventType, deviceId);
  }

  /** Whether the series is aggregated per device (else its queries read raw events). */
  isTracked(eventType: string, deviceId: string): boolean {
    return this.#budget.isTracked(eventType, deviceId);
  }

  /** Whether any of `deviceIds` is not aggregated per device for `eventType` (see `isTracked`). */
  anyUntracked(eventType: string, deviceIds: readonly string[]): boolean {
    return deviceIds.some((d) => !this.#budget.isTracked(eventType, d));
  }

  /** Series budget figures (tracked series, events over budget) for /metrics and /health. */
  seriesFigures(): SeriesBudgetFigures {
    return this.#budget.figures();
  }

  /** How many cells, windows and series entries the engine holds (its memory, in objects). */
  stateSizes(): EngineStateSizes {
    return this.#index.sizes();
  }

  /** Rebuilds the series budget from the series catalogue (at start, before the replay). */
  restoreSeries(rows: Iterable<SeriesCount>): void {
    this.#budget.restore(rows);
  }

  /** Highest commit seq seen (replayed or live). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Events that arrived after their finest window had closed. */
  get lateEvents(): number {
    return this.#lateEvents;
  }

  /**
   * Tracked devices that opened a cell while they had none (new devices, or devices back after
   * their cells closed), since start: each brings a few kilobytes of state until a flush takes its
   * deltas, so the stream service bounds how many a flush lags behind.
   */
  get devicesOpened(): number {
    return this.#index.devicesOpened;
  }

  /** Events processed since start (replayed ones included). */
  get processedEvents(): number {
    return this.#processed;
  }

  /** Each partition's watermark (epoch ms; -Infinity before the first tick). */
  watermarks(): number[] {
    return this.#index.partitions.map((p) => p.watermark);
  }

  /** Sets the seq already folded into stored rollups (at start, from the store). */
  restoreCheckpoint(seq: number): void {
    this.#lastSeq = Math.max(this.#lastSeq, seq);
  }

  /** Seeds an open stored window with the state the store holds for it (at start). */
  restoreWindow(row: RollupDelta): void {
    const index = this.#index;
    const w = index.window(
      row.deviceId === null ? null : index.partitions[partitionOf(row.deviceId, index.partitions.length)],
      row.resolution,
      row.eventType,
      row.deviceId,
      row.start,
      -Infinity,
    );
    w.saved = row.state;
  }

  /**
   * Adds events that the stored rollups already hold to the live-only windows (at start, so the
   * open 1 s windows continue with their values); stored windows and series are not touched.
   */
  seedLive(events: readonly EngineEvent[]): void {
    const { resolutions, storedMinResolution } = this.#options;
    const index = this.#index;
    for (const e of events) {
      const p = index.partition(e.partition);
      const hash = hash32(e.deviceId);
      // A series over budget has no per-device windows; only the all-device ones count it.
      const tracked = this.#budget.isTracked(e.eventType, e.deviceId);
      for (let i = 0; i < resolutions.length; i++) {
        const res = resolutions[i];
        if (res >= storedMinResolution) break;
        const start = windowStart(e.timestamp, res);
        if (tracked && i === 0) {
          const cell = index.cell(p, e, start, -Infinity, false, () => true);
          (cell.folded ??= new Agg()).add(e.value, e.timestamp, e.seq);
        } else if (tracked) {
          const w = index.window(p, res, e.eventType, e.deviceId, start, -Infinity);
          (w.base ??= new Agg()).add(e.value, e.timestamp, e.seq);
        }
        const overall = index.window(null, res, e.eventType, null, start, -Infinity).base ??= new Agg();
        overall.add(e.value, e.timestamp, e.seq);
        overall.addDevice(hash);
      }
    }
  }

  /**
   * Adds committed events, in commit order. `replay`: events that were committed before a
   * restart (no latency is recorded for them).
   */
  ingest(events: readonly EngineEvent[], replay = false): void {
    const now = this.#options.clock.now();
    const index = this.#index;
    const finest = index.finest;
    const onLatency = replay ? undefined : this.#options.onLatency;
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      const p = index.partition(e.partition);
      if (e.timestamp > p.maxEventTime) p.maxEventTime = e.timestamp;
      p.lastEventAt = now;
      const start = windowStart(e.timestamp, finest);
      const late = start + finest <= p.watermark;
      if (late) this.#lateEvents++;
      const cell = index.cell(p, e, start, p.watermark, late, this.#admit);
      if (!cell.pending) {
        cell.pending = new Agg();
        p.pending.push(cell);
      }
      cell.pending.add(e.value, e.timestamp, e.seq);
      if (cell.deviceId === null) cell.pending.addDevice(hash32(e.deviceId));
      if (e.seq > this.#lastSeq) this.#lastSeq = e.seq;
      onLatency?.(now - e.receivedAt);
    }
    this.#processed += events.length;
  }

  /**
   * Advances watermarks, folds pending cells, closes windows behind the watermark and publishes
   * updates of open windows that changed since the last tick.
   */
  tick(): void {
    const now = this.#options.clock.now();
    const { allowedLatenessMs, idleMs } = this.#options;
    const index = this.#index;
    for (const p of index.partitions) {
      const candidate = now - p.lastEventAt >= idleMs
        ? now - allowedLatenessMs
        : Math.min(p.maxEventTime, now) - allowedLatenessMs;
      if (candidate > p.watermark) p.watermark = candidate;
    }
    const publish = this.#options.publish;
    const updates = publish !== undefined && (this.#options.wantsUpdates?.() ?? true);
    // Folding is lazy: cells fold when they close, at flushes and for queries, or every tick
    // when someone listens to open-window updates.
    if (updates) index.foldAll();
    else for (const p of index.partitions) index.foldClosing(p);
    // Without listeners, a map of windows is walked only when one of them closes (per-device
    // windows are a minute or more: one tick in 240); closed windows whose deltas a flush settled
    // leave at the flush (flush-handoff.ts).
    for (const p of index.partitions) {
      this.#closeCells(p, updates);
      if (updates || p.windowsNextEnd <= p.watermark) {
        p.windowsNextEnd = this.#closeWindows(p.windows, p.watermark, updates, updates);
      }
    }
    // Closed all-device windows are announced also when nobody listens live: alerting waits for
    // them. Per-device ones only for listeners: computing every device's values as its windows
    // close (a sketch decoded per window) cost seconds per minute boundary with 250,000 devices.
    const overallWatermark = index.overallWatermark();
    if (updates || index.overallNextEnd <= overallWatermark) {
      index.overallNextEnd = this.#closeWindows(
        index.overall,
        overallWatermark,
        updates,
        publish !== undefined,
      );
    }
  }

  /** Folds everything seen into deltas and takes them for the store; see `flushed`/`flushFailed`. */
  takeFlush(): TakenFlush {
    this.#index.foldAll();
    return takeFlush(this.#index, this.#lastSeq);
  }

  /**
   * The store applied `taken`; `merged[i]` is the stored state of `taken.batch.rollups[i]` after
   * the merge. Closed (or late) windows among them announce their corrected value.
   */
  flushed(taken: TakenFlush, merged: readonly AggState[]): void {
    settleFlushed(this.#index, taken, merged, this.#options.publish);
  }

  /**
   * `taken` went to the dead letters instead of the store (storage-store.ts `parkRollupRange`):
   * its deltas are dropped here without being counted as stored; a replay of the dead letter
   * writes them later.
   */
  flushDiscarded(taken: TakenFlush): void {
    discardFlush(this.#index, taken);
  }

  /** The store did not apply `taken`: its deltas go back, to be retried with the next flush. */
  flushFailed(taken: TakenFlush): void {
    returnFailedFlush(taken);
  }

  /** Current values of the open windows of `eventType` at `resolution` (live snapshot). */
  openWindows(filter: OpenWindowsFilter): WindowMessage[] {
    return openWindows(this.#index, filter);
  }

  /**
   * Folded deltas of stored windows not yet handed to the store, for queries that must see every
   * committed event: `deviceIds` null means the all-device windows. Call only while no flush is
   * in flight (the stream service's consistent read), so store + these deltas is exact.
   */
  unflushedRollups(query: UnflushedRollupsQuery): UnflushedRollup[] {
    return unflushedRollups(this.#index, query);
  }

  /** Unflushed series deltas (see `unflushedRollups`): types (`devices` false) or devices of a type. */
  unflushedSeries(query: UnflushedSeriesQuery): UnflushedSeries[] {
    return unflushedSeries(this.#index, query);
  }

  #closeCells(p: Partition, updates: boolean): void {
    const finest = this.#index.finest;
    const publish = this.#options.publish;
    for (const [eventType, byStart] of p.overBudget) {
      for (const start of byStart.keys()) if (start + finest <= p.watermark) byStart.delete(start);
      if (byStart.size === 0) p.overBudget.delete(eventType);
    }
    for (const cell of this.#index.closeCells(p)) {
      if (!cell.late && updates && cell.folded) publish!(cellMessage(cell, finest, true));
    }
    if (!updates) return;
    // Open cells' updates only for listeners (a walk of every open cell).
    for (const cell of this.#index.cells(p)) {
      if (cell.changed && !cell.late) publish!(cellMessage(cell, finest, false));
      cell.changed = false;
    }
  }

  /** Closes the windows of `map` behind `watermark`; returns the earliest end of those left open. */
  #closeWindows(map: Map<string, Window>, watermark: number, updates: boolean, finals: boolean): number {
    const publish = this.#options.publish;
    let nextEnd = Infinity;
    for (const [key, w] of map) {
      if (!w.closed && w.start + w.resolution <= watermark) {
        w.closed = true;
        if (!w.late && finals) publish!(windowMessage("window", w, w.value(), true));
      } else if (updates && w.changed && !w.closed && !w.late) {
        publish!(windowMessage("window", w, w.value(), false));
      }
      w.changed = false;
      if (!w.closed) nextEnd = Math.min(nextEnd, w.start + w.resolution);
      if (w.closed && !w.delta && !w.inFlight) {
        w.removed = true;
        map.delete(key);
      }
    }
    return nextEnd;
  }
}
