/**
 * The state the stream engine keeps (per-device cells, windows, partitions)
 * and the shapes it hands out (window messages, rollup and series deltas,
 * flush batches). The logic that moves events through them is `engine.ts`
 * (with `window-index.ts` and `flush-handoff.ts`).
 */
import { Agg, type AggregateName, AGGREGATES, type AggState } from "./aggregate.ts";

export type WindowValues = Record<AggregateName, number | null>;

export interface WindowMessage {
  kind: "window" | "correction";
  /** `window`: true once the window closed. Corrections are always final. */
  final: boolean;
  resolution: number;
  eventType: string;
  /** null for the all-device window. */
  deviceId: string | null;
  start: number;
  end: number;
  values: WindowValues;
}
/** What the engine publishes: window updates, closed windows, corrections. */
export type LiveMessage = WindowMessage;

/** One stored bucket's delta or merged state. */
export interface RollupDelta {
  resolution: number;
  eventType: string;
  deviceId: string | null;
  start: number;
  state: AggState;
}

/** Per (eventType, deviceId | null) totals, for the series catalogue. */
export interface SeriesDelta {
  eventType: string;
  deviceId: string | null;
  state: AggState;
}

/** What the store must apply atomically: bucket deltas, series deltas, and the checkpoint. */
export interface FlushBatch {
  rollups: RollupDelta[];
  series: SeriesDelta[];
  /** Highest commit seq folded into this and earlier batches. */
  checkpoint: number;
}

export interface TakenFlush {
  batch: FlushBatch;
  windows: Window[];
  series: { holder: Map<string, SeriesEntry>; key: string; entry: SeriesEntry; taken: Agg }[];
}

export interface SeriesEntry {
  eventType: string;
  deviceId: string | null;
  delta: Agg | null;
  /** Pruned after a flush left it empty: a cell holding it must look it up again. */
  removed?: boolean;
}

/** The values of every aggregate of `agg`. */
export function windowValues(agg: Agg): WindowValues {
  const out = {} as WindowValues;
  for (const name of AGGREGATES) out[name] = agg.value(name);
  return out;
}

/** Start (epoch ms) of the window of size `resolution` that holds `t`, also for times before 1970. */
export function windowStart(t: number, resolution: number): number {
  return t - (((t % resolution) + resolution) % resolution);
}

/**
 * The live message for window `w` carrying the values of `agg`, or of what `agg()` returns: a
 * snapshot (an aggregate or stored state nothing changes later) whose values are computed when
 * the message's `values` are first read. Most corrections of a backfill reach no listener, and
 * their values (a decoded sketch's quantiles, a HyperLogLog count) cost more than the rest of it.
 */
export function windowMessage(
  kind: WindowMessage["kind"],
  w: Window,
  agg: Agg | (() => Agg),
  final: boolean,
): WindowMessage {
  return message(kind, final, w, agg);
}

/** The live message for `cell` (a device's window at the finest `resolution`): folded plus pending events. */
export function cellMessage(cell: Cell, resolution: number, final: boolean): WindowMessage {
  const agg = new Agg();
  if (cell.folded) agg.merge(cell.folded);
  if (cell.pending) agg.merge(cell.pending);
  const at = { resolution, eventType: cell.eventType, deviceId: cell.deviceId, start: cell.start };
  return message("window", final, at, agg);
}

function message(
  kind: WindowMessage["kind"],
  final: boolean,
  at: Pick<WindowMessage, "resolution" | "eventType" | "deviceId" | "start">,
  source: Agg | (() => Agg),
): WindowMessage {
  let values: WindowValues | null = null;
  return {
    kind,
    final,
    resolution: at.resolution,
    eventType: at.eventType,
    deviceId: at.deviceId,
    start: at.start,
    end: at.start + at.resolution,
    // An own enumerable accessor: JSON.stringify, spreads and structured clones read it as a value.
    get values(): WindowValues {
      return values ??= windowValues(typeof source === "function" ? source() : source);
    },
    set values(v: WindowValues) {
      values = v;
    },
  };
}

/**
 * A device's window at the finest resolution: where its events wait (`pending`) until they are
 * folded into the windows of every resolution. A cell with `deviceId` null pools the events of
 * the series over budget of one partition, type and second (series-budget.ts): it folds into the
 * all-device windows only, its `pending` aggregate carrying the device ids as a HyperLogLog.
 */
export class Cell {
  pending: Agg | null = null;
  folded: Agg | null = null;
  changed = false;
  /** The windows and series this cell folds into, by resolution index (looked up once). */
  windows: (Window | null)[] = [];
  overall: (Window | null)[] = [];
  series: SeriesEntry | null = null;
  overallSeries: SeriesEntry | null = null;
  constructor(
    readonly eventType: string,
    readonly deviceId: string | null,
    readonly deviceHash: number,
    readonly start: number,
    /** The partition's watermark when the cell was created: windows ending by it are late. */
    readonly watermark: number,
    /** Created after its own window had closed (for a late event). */
    readonly late: boolean,
  ) {}
}

export class Window {
  /** Live-only windows: everything seen. */
  base: Agg | null = null;
  /**
   * Stored windows: what the store holds for this bucket, as the store's merged state (encoded
   * sketches): a flushed open window costs a few hundred bytes, not a live sketch's kilobytes.
   */
  saved: AggState | null = null;
  /** Folded but not yet handed to the store. */
  delta: Agg | null = null;
  /** Handed to the store, not yet confirmed. */
  inFlight: Agg | null = null;
  closed = false;
  changed = false;
  /** Deleted from its map: a cell holding it must look the window up again. */
  removed = false;
  /** Received events after it closed (or was created late): its stored value is announced after the flush. */
  corrected = false;
  constructor(
    readonly resolution: number,
    readonly stored: boolean,
    readonly eventType: string,
    readonly deviceId: string | null,
    readonly start: number,
    /** Created for a late event after the window had closed: not announced as a live window. */
    readonly late: boolean,
  ) {}

  value(): Agg {
    const v = this.saved ? Agg.fromState(this.saved) : new Agg();
    if (this.base) v.merge(this.base);
    if (this.inFlight) v.merge(this.inFlight);
    if (this.delta) v.merge(this.delta);
    return v;
  }

  /** Where folded events go; notes a correction when the window is already closed. */
  target(): Agg {
    if (this.closed || this.late) this.corrected = true;
    return this.stored ? (this.delta ??= new Agg()) : (this.base ??= new Agg());
  }
}

export class Partition {
  watermark = -Infinity;
  maxEventTime = -Infinity;
  lastEventAt = -Infinity;
  /** eventType → deviceId → cell start → cell. */
  cells = new Map<string, Map<string, Map<number, Cell>>>();
  /** The same cells by start, and their starts ascending: a tick closes cells without a walk of all. */
  cellsByStart = new Map<number, Cell[]>();
  cellStarts: number[] = [];
  /** eventType → cell start → the cell of the series over budget. */
  overBudget = new Map<string, Map<number, Cell>>();
  pending: Cell[] = [];
  windows = new Map<string, Window>();
  /** No per-device window left open by the last close ends before this (a tick skips the walk until). */
  windowsNextEnd = Infinity;
  series = new Map<string, SeriesEntry>();
}
