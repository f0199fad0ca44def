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
 */
import type { Clock } from "../clock.ts";
import type { EnrichedEvent } from "../../shared/event.ts";
import { Agg, type AggState } from "./aggregate.ts";
import {
  Cell,
  type LiveMessage,
  Partition,
  type RollupDelta,
  type SeriesEntry,
  type TakenFlush,
  Window,
  type WindowMessage,
  windowValues,
} from "./windows.ts";
import { hash32 } from "./hll.ts";
import { partitionOf } from "../../shared/partition.ts";

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

const SEP = "\u0000"; // control characters never occur in event types or device ids
/** How far behind the clock the all-device watermark may stay for a lagging partition. */
export const MAX_PARTITION_LAG_MS = 5 * 60_000;

export class StreamEngine {
  readonly #options: EngineOptions;
  readonly #partitions: Partition[];
  readonly #overall = new Map<string, Window>();
  readonly #overallSeries = new Map<string, SeriesEntry>();
  readonly #finest: number;
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
    this.#finest = res[0];
    this.#partitions = Array.from({ length: options.partitions }, () => new Partition());
  }

  /** Highest commit seq seen (replayed or live). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Events that arrived after their finest window had closed. */
  get lateEvents(): number {
    return this.#lateEvents;
  }

  /** Events processed since start (replayed ones included). */
  get processedEvents(): number {
    return this.#processed;
  }

  /** Each partition's watermark (epoch ms; -Infinity before the first tick). */
  watermarks(): number[] {
    return this.#partitions.map((p) => p.watermark);
  }

  /** Sets the seq already folded into stored rollups (at start, from the store). */
  restoreCheckpoint(seq: number): void {
    this.#lastSeq = Math.max(this.#lastSeq, seq);
  }

  /** Seeds an open stored window with the state the store holds for it (at start). */
  restoreWindow(row: RollupDelta): void {
    const w = this.#window(
      row.deviceId === null ? null : this.#partitions[partitionOf(row.deviceId, this.#partitions.length)],
      row.resolution,
      row.eventType,
      row.deviceId,
      row.start,
      -Infinity,
    );
    w.base = Agg.fromState(row.state);
  }

  /**
   * Adds events that the stored rollups already hold to the live-only windows (at start, so the
   * open 1 s windows continue with their values); stored windows and series are not touched.
   */
  seedLive(events: readonly EngineEvent[]): void {
    const { resolutions, storedMinResolution } = this.#options;
    for (const e of events) {
      const p = this.#partitions[e.partition % this.#partitions.length];
      const hash = hash32(e.deviceId);
      for (let i = 0; i < resolutions.length; i++) {
        const res = resolutions[i];
        if (res >= storedMinResolution) break;
        const start = e.timestamp - mod(e.timestamp, res);
        if (i === 0) {
          (this.#cell(p, e, start, -Infinity, false).folded ??= new Agg()).add(e.value, e.timestamp, e.seq);
        } else {
          const w = this.#window(p, res, e.eventType, e.deviceId, start, -Infinity);
          (w.base ??= new Agg()).add(e.value, e.timestamp, e.seq);
        }
        const overall = this.#window(null, res, e.eventType, null, start, -Infinity).base ??= new Agg();
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
    const finest = this.#finest;
    const onLatency = replay ? undefined : this.#options.onLatency;
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      const p = this.#partitions[e.partition % this.#partitions.length];
      if (e.timestamp > p.maxEventTime) p.maxEventTime = e.timestamp;
      p.lastEventAt = now;
      const start = e.timestamp - mod(e.timestamp, finest);
      const late = start + finest <= p.watermark;
      if (late) this.#lateEvents++;
      const cell = this.#cell(p, e, start, p.watermark, late);
      if (!cell.pending) {
        cell.pending = new Agg();
        p.pending.push(cell);
      }
      cell.pending.add(e.value, e.timestamp, e.seq);
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
    for (const p of this.#partitions) {
      const candidate = now - p.lastEventAt >= idleMs
        ? now - allowedLatenessMs
        : Math.min(p.maxEventTime, now) - allowedLatenessMs;
      if (candidate > p.watermark) p.watermark = candidate;
    }
    const publish = this.#options.publish;
    const updates = publish !== undefined && (this.#options.wantsUpdates?.() ?? true);
    // Folding is lazy: cells fold when they close, at flushes and for queries, or every tick
    // when someone listens to open-window updates.
    if (updates) this.#foldAll();
    else for (const p of this.#partitions) this.#foldClosing(p);
    for (const p of this.#partitions) {
      this.#closeCells(p, updates);
      this.#closeWindows(p.windows, p.watermark, updates);
    }
    this.#closeWindows(this.#overall, this.#overallWatermark(), updates);
  }

  /** Folds everything seen into deltas and takes them for the store; see `flushed`/`flushFailed`. */
  takeFlush(): TakenFlush {
    this.#foldAll();
    const rollups: RollupDelta[] = [];
    const windows: Window[] = [];
    const take = (w: Window) => {
      if (!w.delta) return;
      rollups.push({
        resolution: w.resolution,
        eventType: w.eventType,
        deviceId: w.deviceId,
        start: w.start,
        state: w.delta.toState(),
      });
      w.inFlight = w.delta;
      w.delta = null;
      windows.push(w);
    };
    for (const p of this.#partitions) for (const w of p.windows.values()) take(w);
    for (const w of this.#overall.values()) take(w);
    const series: TakenFlush["series"] = [];
    const takeSeries = (holder: Map<string, SeriesEntry>) => {
      for (const [key, entry] of holder) {
        if (!entry.delta) continue;
        series.push({ holder, key, entry, taken: entry.delta });
        entry.delta = null;
      }
    };
    for (const p of this.#partitions) takeSeries(p.series);
    takeSeries(this.#overallSeries);
    return {
      batch: {
        rollups,
        series: series.map(({ entry, taken }) => ({
          eventType: entry.eventType,
          deviceId: entry.deviceId,
          state: taken.toState(),
        })),
        checkpoint: this.#lastSeq,
      },
      windows,
      series,
    };
  }

  /**
   * The store applied `taken`; `merged[i]` is the stored state of `taken.batch.rollups[i]` after
   * the merge. Closed (or late) windows among them announce their corrected value.
   */
  flushed(taken: TakenFlush, merged: readonly AggState[]): void {
    const publish = this.#options.publish;
    taken.windows.forEach((w, i) => {
      const sent = w.inFlight!;
      w.inFlight = null;
      if (w.corrected) {
        w.corrected = false;
        publish?.(this.#message("correction", w, Agg.fromState(merged[i]), true));
      }
      if (!w.closed && !w.late) {
        if (w.base) w.base.merge(sent);
        else w.base = sent;
      }
    });
    for (const p of this.#partitions) this.#dropFlushedClosed(p.windows);
    this.#dropFlushedClosed(this.#overall);
    // Series entries exist only to carry deltas; one with nothing new since the flush goes, so the
    // maps do not grow with every device ever seen.
    for (const { holder, key, entry } of taken.series) {
      if (entry.delta === null) {
        entry.removed = true;
        holder.delete(key);
      }
    }
  }

  /**
   * `taken` went to the dead letters instead of the store (storage-store.ts `parkRollupRange`):
   * its deltas are dropped here without being counted as stored; a replay of the dead letter
   * writes them later.
   */
  flushDiscarded(taken: TakenFlush): void {
    for (const w of taken.windows) {
      w.inFlight = null;
      w.corrected = false;
    }
    for (const p of this.#partitions) this.#dropFlushedClosed(p.windows);
    this.#dropFlushedClosed(this.#overall);
    for (const { holder, key, entry } of taken.series) {
      if (entry.delta === null) {
        entry.removed = true;
        holder.delete(key);
      }
    }
  }

  /** The store did not apply `taken`: its deltas go back, to be retried with the next flush. */
  flushFailed(taken: TakenFlush): void {
    for (const w of taken.windows) {
      const sent = w.inFlight!;
      w.inFlight = null;
      if (w.delta) sent.merge(w.delta);
      w.delta = sent;
    }
    for (const { entry, taken: sent } of taken.series) {
      if (entry.delta) sent.merge(entry.delta, false);
      entry.delta = sent;
    }
  }

  /** Current values of the open windows of `eventType` at `resolution` (live snapshot). */
  openWindows(
    filter: { eventType?: string; deviceId?: string | null; resolution?: number; limit?: number },
  ): WindowMessage[] {
    this.#foldAll();
    const out: WindowMessage[] = [];
    const limit = filter.limit ?? Infinity;
    const consider = (w: Window) => {
      if (w.closed || w.late || out.length >= limit) return;
      if (filter.eventType !== undefined && w.eventType !== filter.eventType) return;
      if (filter.deviceId !== undefined && w.deviceId !== filter.deviceId) return;
      if (filter.resolution !== undefined && w.resolution !== filter.resolution) return;
      out.push(this.#message("window", w, w.value(), false));
    };
    for (const w of this.#overall.values()) consider(w);
    if (filter.deviceId !== null) {
      for (const p of this.#partitions) {
        for (const w of p.windows.values()) consider(w);
        if (filter.resolution === undefined || filter.resolution === this.#finest) {
          for (const cell of this.#cells(p)) {
            if (cell.late || out.length >= limit) continue;
            if (filter.eventType !== undefined && cell.eventType !== filter.eventType) continue;
            if (filter.deviceId !== undefined && cell.deviceId !== filter.deviceId) continue;
            out.push(this.#cellMessage(cell, false));
          }
        }
      }
    }
    return out;
  }

  /**
   * Folded deltas of stored windows not yet handed to the store, for queries that must see every
   * committed event: `deviceIds` null means the all-device windows. Call only while no flush is
   * in flight (the stream service's consistent read), so store + these deltas is exact.
   */
  unflushedRollups(query: {
    eventType: string;
    resolution: number;
    deviceIds: readonly string[] | null;
    from: number;
    to: number;
  }): { deviceId: string | null; start: number; agg: Agg }[] {
    this.#foldAll();
    const out: { deviceId: string | null; start: number; agg: Agg }[] = [];
    const consider = (w: Window) => {
      if (!w.delta || w.eventType !== query.eventType || w.resolution !== query.resolution) return;
      if (w.start < query.from || w.start >= query.to) return;
      out.push({ deviceId: w.deviceId, start: w.start, agg: w.delta });
    };
    if (query.deviceIds === null) {
      for (const w of this.#overall.values()) consider(w);
    } else {
      const wanted = new Set(query.deviceIds);
      for (const p of this.#partitions) {
        for (const w of p.windows.values()) if (wanted.has(w.deviceId!)) consider(w);
      }
    }
    return out;
  }

  /** Unflushed series deltas (see `unflushedRollups`): types (`devices` false) or devices of a type. */
  unflushedSeries(query: { eventType?: string; devices: boolean }): {
    eventType: string;
    deviceId: string | null;
    agg: Agg;
  }[] {
    this.#foldAll();
    const out: { eventType: string; deviceId: string | null; agg: Agg }[] = [];
    const holders = query.devices ? this.#partitions.map((p) => p.series) : [this.#overallSeries];
    for (const holder of holders) {
      for (const entry of holder.values()) {
        if (!entry.delta) continue;
        if (query.eventType !== undefined && entry.eventType !== query.eventType) continue;
        out.push({ eventType: entry.eventType, deviceId: entry.deviceId, agg: entry.delta });
      }
    }
    return out;
  }

  /** The device's cell starting at `start` (created if absent). */
  #cell(p: Partition, e: EngineEvent, start: number, watermark: number, late: boolean): Cell {
    let byDevice = p.cells.get(e.eventType);
    if (!byDevice) p.cells.set(e.eventType, byDevice = new Map());
    let byStart = byDevice.get(e.deviceId);
    if (!byStart) byDevice.set(e.deviceId, byStart = new Map());
    let cell = byStart.get(start);
    if (!cell) {
      byStart.set(
        start,
        cell = new Cell(e.eventType, e.deviceId, hash32(e.deviceId), start, watermark, late),
      );
    }
    return cell;
  }

  #foldAll(): void {
    for (const p of this.#partitions) {
      const cells = p.pending;
      p.pending = [];
      for (const cell of cells) this.#fold(p, cell);
    }
  }

  #foldClosing(p: Partition): void {
    const finest = this.#finest;
    const keep: Cell[] = [];
    for (const cell of p.pending) {
      if (cell.start + finest <= p.watermark) this.#fold(p, cell);
      else keep.push(cell);
    }
    p.pending = keep;
  }

  #fold(p: Partition, cell: Cell): void {
    const pending = cell.pending!;
    cell.pending = null;
    const { resolutions } = this.#options;
    for (let i = 0; i < resolutions.length; i++) {
      if (i > 0 || resolutions[0] >= this.#options.storedMinResolution) {
        let w = cell.windows[i];
        if (!w || w.removed) w = cell.windows[i] = this.#cellWindow(p, cell, i, false);
        w.target().merge(pending);
        w.changed = true;
      }
      let o = cell.overall[i];
      if (!o || o.removed) o = cell.overall[i] = this.#cellWindow(p, cell, i, true);
      const target = o.target();
      target.merge(pending);
      target.addDevice(cell.deviceHash);
      o.changed = true;
    }
    if (!cell.series || cell.series.removed) {
      cell.series = this.#seriesEntry(p.series, cell.eventType, cell.deviceId);
    }
    (cell.series.delta ??= new Agg()).merge(pending, false);
    if (!cell.overallSeries || cell.overallSeries.removed) {
      cell.overallSeries = this.#seriesEntry(this.#overallSeries, cell.eventType, null);
    }
    (cell.overallSeries.delta ??= new Agg()).merge(pending, false);
    if (cell.folded) cell.folded.merge(pending);
    else cell.folded = pending;
    cell.changed = true;
  }

  /** The window of resolution index `i` that `cell` folds into (per device, or all-device). */
  #cellWindow(p: Partition, cell: Cell, i: number, overall: boolean): Window {
    const res = this.#options.resolutions[i];
    const start = cell.start - mod(cell.start, res);
    // Late only if the window had already closed when the cell's first event arrived.
    const bound = overall ? Math.min(cell.watermark, this.#overallWatermark()) : cell.watermark;
    return overall
      ? this.#window(null, res, cell.eventType, null, start, bound)
      : this.#window(p, res, cell.eventType, cell.deviceId, start, bound);
  }

  #seriesEntry(holder: Map<string, SeriesEntry>, eventType: string, deviceId: string | null): SeriesEntry {
    const key = deviceId === null ? eventType : eventType + SEP + deviceId;
    let entry = holder.get(key);
    if (!entry) holder.set(key, entry = { eventType, deviceId, delta: null });
    return entry;
  }

  /**
   * The window (created if absent); `p` null means the all-device window. A new window is late
   * (created for late events after it had closed) when it ends by `lateBound`.
   */
  #window(
    p: Partition | null,
    res: number,
    eventType: string,
    deviceId: string | null,
    start: number,
    lateBound: number,
  ): Window {
    const map = p ? p.windows : this.#overall;
    const key = p
      ? res + SEP + eventType + SEP + deviceId + SEP + start
      : res + SEP + eventType + SEP + start;
    let w = map.get(key);
    if (!w) {
      w = new Window(
        res,
        res >= this.#options.storedMinResolution,
        eventType,
        deviceId,
        start,
        start + res <= lateBound,
      );
      map.set(key, w);
    }
    return w;
  }

  /**
   * All-device windows close behind the lowest partition watermark, but never more than
   * `MAX_PARTITION_LAG_MS` behind the clock: one partition replaying old data must not keep every
   * all-device window open (its events then correct closed windows, as late events do).
   */
  #overallWatermark(): number {
    let lowest = Infinity;
    for (const p of this.#partitions) lowest = Math.min(lowest, p.watermark);
    const floor = this.#options.clock.now() - this.#options.allowedLatenessMs - MAX_PARTITION_LAG_MS;
    return Math.max(lowest, floor);
  }

  *#cells(p: Partition): Generator<Cell> {
    for (const byDevice of p.cells.values()) {
      for (const byStart of byDevice.values()) yield* byStart.values();
    }
  }

  #closeCells(p: Partition, updates: boolean): void {
    const finest = this.#finest;
    const publish = this.#options.publish;
    for (const [eventType, byDevice] of p.cells) {
      for (const [deviceId, byStart] of byDevice) {
        for (const [start, cell] of byStart) {
          if (start + finest <= p.watermark) {
            if (!cell.late && publish && cell.folded) publish(this.#cellMessage(cell, true));
            byStart.delete(start);
          } else if (updates && cell.changed && !cell.late) {
            publish!(this.#cellMessage(cell, false));
          }
          cell.changed = false;
        }
        if (byStart.size === 0) byDevice.delete(deviceId);
      }
      if (byDevice.size === 0) p.cells.delete(eventType);
    }
  }

  #closeWindows(map: Map<string, Window>, watermark: number, updates: boolean): void {
    const publish = this.#options.publish;
    for (const [key, w] of map) {
      if (!w.closed && w.start + w.resolution <= watermark) {
        w.closed = true;
        if (!w.late && publish) publish(this.#message("window", w, w.value(), true));
      } else if (updates && w.changed && !w.closed && !w.late) {
        publish!(this.#message("window", w, w.value(), false));
      }
      w.changed = false;
      if (w.closed && !w.delta && !w.inFlight) {
        w.removed = true;
        map.delete(key);
      }
    }
  }

  #dropFlushedClosed(map: Map<string, Window>): void {
    for (const [key, w] of map) {
      if ((w.closed || w.late) && !w.delta && !w.inFlight) {
        w.removed = true;
        map.delete(key);
      }
    }
  }

  #message(kind: WindowMessage["kind"], w: Window, agg: Agg, final: boolean): WindowMessage {
    return {
      kind,
      final,
      resolution: w.resolution,
      eventType: w.eventType,
      deviceId: w.deviceId,
      start: w.start,
      end: w.start + w.resolution,
      values: windowValues(agg),
    };
  }

  #cellMessage(cell: Cell, final: boolean): WindowMessage {
    const agg = new Agg();
    if (cell.folded) agg.merge(cell.folded);
    if (cell.pending) agg.merge(cell.pending);
    return {
      kind: "window",
      final,
      resolution: this.#finest,
      eventType: cell.eventType,
      deviceId: cell.deviceId,
      start: cell.start,
      end: cell.start + this.#finest,
      values: windowValues(agg),
    };
  }
}

function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}
