/**
 * Where the stream engine's state lives and how it is found: the partitions
 * (cells, per-device windows and series), the all-device windows and series,
 * and the fold that moves a cell's pending events into every window and series
 * it belongs to. `engine.ts` drives it (ingest, tick, close, reads);
 * `flush-handoff.ts` hands its deltas to the store.
 */
import type { Clock } from "../clock.ts";
import { Agg } from "./aggregate.ts";
import { hash32 } from "./hll.ts";
import { Cell, Partition, type SeriesEntry, Window, windowStart } from "./windows.ts";

const SEP = "\u0000"; // control characters never occur in event types or device ids
/** How far behind the clock the all-device watermark may stay for a lagging partition. */
export const MAX_PARTITION_LAG_MS = 5 * 60_000;

/** What the index needs of the engine's options (see `EngineOptions`). */
export interface WindowIndexOptions {
  partitions: number;
  /** Window sizes in ms, ascending; each divides the next (checked by the engine). */
  resolutions: readonly number[];
  storedMinResolution: number;
  allowedLatenessMs: number;
  clock: Clock;
}

/** The event fields that place an event in a cell. */
type CellKey = { eventType: string; deviceId: string };
/** The objects the engine holds, by kind. */
export interface EngineStateSizes {
  /** Per-device cells (finest windows with events not yet closed). */
  cells: number;
  /** Cells pooling the series over budget (per partition, type and finest window). */
  pooledCells: number;
  /** Per-device windows of every coarser resolution (open, or closed with deltas to flush). */
  deviceWindows: number;
  allDeviceWindows: number;
  /** Series entries carrying totals not yet flushed (per device and all-device). */
  series: number;
}

/** Whether a series is aggregated per device (`SeriesBudget.admit`). */
export type Admit = (eventType: string, deviceId: string) => boolean;

export class WindowIndex {
  readonly partitions: Partition[];
  /** All-device windows, by resolution, event type and start. */
  readonly overall = new Map<string, Window>();
  /** No all-device window left open by the last close ends before this (see `Partition.windowsNextEnd`). */
  overallNextEnd = Infinity;
  /** All-device series entries, by event type. */
  readonly overallSeries = new Map<string, SeriesEntry>();
  /** The finest resolution, ms: the size of a cell. */
  readonly finest: number;
  /**
   * Tracked devices that opened a cell while they had none open, since start: new per-device state
   * (a cell, and windows where the device had none) that waits for a flush. Steady traffic of the
   * same devices and late or historical events of one device add nothing.
   */
  devicesOpened = 0;

  constructor(private readonly options: WindowIndexOptions) {
    this.finest = options.resolutions[0];
    this.partitions = Array.from({ length: options.partitions }, () => new Partition());
  }

  /** The partition of an event's stable `partition` number. */
  partition(n: number): Partition {
    return this.partitions[n % this.partitions.length];
  }

  /**
   * The device's cell starting at `start` (created if absent), or, for a series over budget (a
   * device without open cells that `admit` refuses), the partition's pooled cell of its type.
   */
  cell(p: Partition, e: CellKey, start: number, watermark: number, late: boolean, admit: Admit): Cell {
    let byDevice = p.cells.get(e.eventType);
    let byStart = byDevice?.get(e.deviceId);
    if (!byStart) {
      if (!admit(e.eventType, e.deviceId)) return this.#pooledCell(p, e.eventType, start, watermark, late);
      if (!byDevice) p.cells.set(e.eventType, byDevice = new Map());
      byDevice.set(e.deviceId, byStart = new Map());
      this.devicesOpened++;
    }
    let cell = byStart.get(start);
    if (!cell) {
      byStart.set(
        start,
        cell = new Cell(e.eventType, e.deviceId, hash32(e.deviceId), start, watermark, late),
      );
      const sameStart = p.cellsByStart.get(start);
      if (sameStart) sameStart.push(cell);
      else {
        p.cellsByStart.set(start, [cell]);
        insertSorted(p.cellStarts, start);
      }
    }
    return cell;
  }

  /**
   * Removes the per-device cells of `p` that its watermark closes and returns them, in start
   * order. Costs the closing cells, not every open one: with 4,000 series holding minutes of
   * cells, a walk of all of them on every tick took 5 s of a 36 s alert benchmark
   * (docs/PERFORMANCE.md, "Alerting at its limits").
   */
  closeCells(p: Partition): Cell[] {
    const closed: Cell[] = [];
    const starts = p.cellStarts;
    let n = 0;
    while (n < starts.length && starts[n] + this.finest <= p.watermark) {
      const start = starts[n++];
      for (const cell of p.cellsByStart.get(start)!) {
        const byDevice = p.cells.get(cell.eventType)!;
        const byStart = byDevice.get(cell.deviceId!)!;
        byStart.delete(start);
        if (byStart.size === 0) {
          byDevice.delete(cell.deviceId!);
          if (byDevice.size === 0) p.cells.delete(cell.eventType);
        }
        closed.push(cell);
      }
      p.cellsByStart.delete(start);
    }
    if (n > 0) starts.splice(0, n);
    return closed;
  }

  #pooledCell(p: Partition, eventType: string, start: number, watermark: number, late: boolean): Cell {
    let byStart = p.overBudget.get(eventType);
    if (!byStart) p.overBudget.set(eventType, byStart = new Map());
    let cell = byStart.get(start);
    if (!cell) byStart.set(start, cell = new Cell(eventType, null, 0, start, watermark, late));
    return cell;
  }

  /** How many cells, windows and series entries the index holds (its memory, in objects). */
  sizes(): EngineStateSizes {
    const sizes = {
      cells: 0,
      pooledCells: 0,
      deviceWindows: 0,
      allDeviceWindows: this.overall.size,
      series: 0,
    };
    for (const p of this.partitions) {
      for (const _ of this.cells(p)) sizes.cells++;
      for (const byStart of p.overBudget.values()) sizes.pooledCells += byStart.size;
      sizes.deviceWindows += p.windows.size;
      sizes.series += p.series.size;
    }
    sizes.series += this.overallSeries.size;
    return sizes;
  }

  /** Every per-device cell of `p` (not the pooled cells of series over budget). */
  *cells(p: Partition): Generator<Cell> {
    for (const byDevice of p.cells.values()) {
      for (const byStart of byDevice.values()) yield* byStart.values();
    }
  }

  /**
   * The window (created if absent, unless `create` is false: then null); `p` null means the
   * all-device window. A new window is late (created for late events after it had closed) when
   * it ends by `lateBound`.
   */
  window(
    p: Partition | null,
    res: number,
    eventType: string,
    deviceId: string | null,
    start: number,
    lateBound: number,
  ): Window;
  window(
    p: Partition | null,
    res: number,
    eventType: string,
    deviceId: string | null,
    start: number,
    lateBound: number,
    create: boolean,
  ): Window | null;
  window(
    p: Partition | null,
    res: number,
    eventType: string,
    deviceId: string | null,
    start: number,
    lateBound: number,
    create = true,
  ): Window | null {
    const map = p ? p.windows : this.overall;
    const key = p
      ? res + SEP + eventType + SEP + deviceId + SEP + start
      : res + SEP + eventType + SEP + start;
    let w = map.get(key);
    if (!w) {
      if (!create) return null;
      w = new Window(
        res,
        res >= this.options.storedMinResolution,
        eventType,
        deviceId,
        start,
        start + res <= lateBound,
      );
      map.set(key, w);
      const end = start + res;
      if (p) p.windowsNextEnd = Math.min(p.windowsNextEnd, end);
      else this.overallNextEnd = Math.min(this.overallNextEnd, end);
    }
    return w;
  }

  /**
   * All-device windows close behind the lowest partition watermark, but never more than
   * `MAX_PARTITION_LAG_MS` behind the clock: one partition replaying old data must not keep every
   * all-device window open (its events then correct closed windows, as late events do).
   */
  overallWatermark(): number {
    let lowest = Infinity;
    for (const p of this.partitions) lowest = Math.min(lowest, p.watermark);
    const floor = this.options.clock.now() - this.options.allowedLatenessMs - MAX_PARTITION_LAG_MS;
    return Math.max(lowest, floor);
  }

  /** Folds every pending cell. */
  foldAll(): void {
    for (const p of this.partitions) {
      const cells = p.pending;
      p.pending = [];
      for (const cell of cells) this.#fold(p, cell);
    }
  }

  /** Folds the pending cells of `p` that its watermark closes. */
  foldClosing(p: Partition): void {
    const finest = this.finest;
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
    if (cell.deviceId === null) {
      this.#foldPooled(p, cell, pending);
      return;
    }
    const { resolutions } = this.options;
    for (let i = 0; i < resolutions.length; i++) {
      if (i > 0 || resolutions[0] >= this.options.storedMinResolution) {
        let w = cell.windows[i];
        if (!w || w.removed) w = cell.windows[i] = this.#cellWindow(p, cell, i, false);
        if (w) {
          w.target().merge(pending);
          w.changed = true;
        }
      }
      let o = cell.overall[i];
      if (!o || o.removed) o = cell.overall[i] = this.#cellWindow(p, cell, i, true);
      if (o) {
        const target = o.target();
        target.merge(pending);
        target.addDevice(cell.deviceHash);
        o.changed = true;
      }
    }
    if (!cell.series || cell.series.removed) {
      cell.series = this.#seriesEntry(p.series, cell.eventType, cell.deviceId);
    }
    (cell.series.delta ??= new Agg()).merge(pending, false);
    if (!cell.overallSeries || cell.overallSeries.removed) {
      cell.overallSeries = this.#seriesEntry(this.overallSeries, cell.eventType, null);
    }
    (cell.overallSeries.delta ??= new Agg()).merge(pending, false);
    // A late cell's own value is never announced nor read (`cellMessage`, `openWindows`).
    if (cell.late) {
      cell.changed = false;
      return;
    }
    if (cell.folded) cell.folded.merge(pending);
    else cell.folded = pending;
    cell.changed = true;
  }

  /** A pooled cell (series over budget) folds into the all-device windows and totals only. */
  #foldPooled(p: Partition, cell: Cell, pending: Agg): void {
    for (let i = 0; i < this.options.resolutions.length; i++) {
      let o = cell.overall[i];
      if (!o || o.removed) o = cell.overall[i] = this.#cellWindow(p, cell, i, true);
      if (!o) continue;
      // `pending` carries its devices as a HyperLogLog, which the merge adds.
      o.target().merge(pending);
      o.changed = true;
    }
    if (!cell.overallSeries || cell.overallSeries.removed) {
      cell.overallSeries = this.#seriesEntry(this.overallSeries, cell.eventType, null);
    }
    (cell.overallSeries.delta ??= new Agg()).merge(pending, false);
  }

  /**
   * The window of resolution index `i` that `cell` folds into (per device, or all-device); null for
   * a live-only window that had already closed and is gone: nothing would read or announce it
   * (late windows are neither announced nor listed, and only stored ones are corrected), and on
   * a backfill every late event would otherwise build one for each live resolution.
   */
  #cellWindow(p: Partition, cell: Cell, i: number, overall: boolean): Window | null {
    const res = this.options.resolutions[i];
    const start = windowStart(cell.start, res);
    // Late only if the window had already closed when the cell's first event arrived.
    const bound = overall ? Math.min(cell.watermark, this.overallWatermark()) : cell.watermark;
    const create = res >= this.options.storedMinResolution || start + res > bound;
    return overall
      ? this.window(null, res, cell.eventType, null, start, bound, create)
      : this.window(p, res, cell.eventType, cell.deviceId, start, bound, create);
  }

  #seriesEntry(holder: Map<string, SeriesEntry>, eventType: string, deviceId: string | null): SeriesEntry {
    const key = deviceId === null ? eventType : eventType + SEP + deviceId;
    let entry = holder.get(key);
    if (!entry) holder.set(key, entry = { eventType, deviceId, delta: null });
    return entry;
  }
}

/** Inserts `value` into the ascending `list` (new cell starts are mostly the largest). */
function insertSorted(list: number[], value: number): void {
  let i = list.length;
  if (i === 0 || list[i - 1] < value) {
    list.push(value);
    return;
  }
  let lo = 0;
  while (lo < i) {
    const mid = (lo + i) >>> 1;
    if (list[mid] < value) lo = mid + 1;
    else i = mid;
  }
  list.splice(lo, 0, value);
}
