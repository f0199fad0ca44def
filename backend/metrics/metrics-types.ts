/**
 * The types of metric queries: what a query asks, what it answers (as nullable
 * arrays, or as typed columns for serialisers that write numbers straight from
 * them), the limits it is held to, and the consistent-read port it reads
 * through.
 */
import type { AggregateName } from "../stream/aggregate.ts";
import type {
  UnflushedRollup,
  UnflushedRollupsQuery,
  UnflushedSeries,
  UnflushedSeriesQuery,
} from "../stream/engine-reads.ts";

export type FillMode = "null" | "zero" | "previous";

export interface MetricsQuery {
  eventType: string;
  /** Selected devices; empty: all devices. */
  deviceIds: string[];
  metadata: [string, string][];
  from: number;
  to: number;
  step: number;
  aggregates: AggregateName[];
  /** One series per device instead of one merged series. */
  groupByDevice: boolean;
  fill: FillMode;
  /** Most series (groupBy) to return. */
  limit: number;
  /** Hopping windows: each point aggregates the `window` ms ending with its step (default: the step). */
  window?: number;
}

/** Session windows of one device. */
export interface DeviceSessions {
  deviceId: string;
  /** start/end: first and last event time of the session. */
  sessions: { start: number; end: number; values: Partial<Record<AggregateName, number | null>> }[];
}

export interface MetricsSeries {
  /** null: all (or all selected) devices merged. */
  deviceId: string | null;
  /** One array per aggregate, aligned with `timestamps`. */
  values: Partial<Record<AggregateName, (number | null)[]>>;
}

export interface MetricsResult {
  /** `raw` or the resolution read, ms. */
  source: "raw" | number;
  timestamps: number[];
  series: MetricsSeries[];
  /** Whether more devices matched than `limit` allowed. */
  truncated: boolean;
}

/**
 * One series of a `MetricsColumnsResult`: per aggregate a typed column aligned with
 * `timestamps`, NaN where the answer is null. A non-finite value (a sum that overflowed) is NaN
 * or ±Infinity there; JSON writes all of those as null, as `JSON.stringify` does.
 */
export interface MetricsColumnSeries {
  /** null: all (or all selected) devices merged. */
  deviceId: string | null;
  /**
   * The column of `name`, one of the query's aggregates. The scalar path computes it on demand
   * from its per-slot accumulators, so a day of minutes for 1,000 devices is not held twice; it
   * may write it into `into` (when that has the column's length) and return it, so read a
   * column before asking for the next one into the same array.
   */
  column(name: AggregateName, into?: Float64Array): Float64Array;
}

/** `MetricsResult` with typed columns (see `MetricsColumnSeries`): what the HTTP answer is written from. */
export interface MetricsColumnsResult {
  source: "raw" | number;
  timestamps: number[];
  series: MetricsColumnSeries[];
  truncated: boolean;
  /**
   * Gives the memory behind the columns back for reuse: call it once nothing will ask for a
   * column again (the serialiser does when it is done or cancelled). Calling it again does nothing.
   */
  release(): void;
}

/** A slice of a sliced answer: some of its series, and `release` once they have been written. */
export interface MetricsSlice {
  series: MetricsColumnSeries[];
  /** Gives the memory behind the columns back (see `MetricsColumnsResult.release`). */
  release(): void;
}

/**
 * An answer read in slices of series (`MetricsService.querySlices`): each slice is read when the
 * consumer asks for the next one, so a consumer that stops asking holds one slice and no thread.
 */
export interface MetricsSlicedResult {
  source: "raw" | number;
  timestamps: number[];
  truncated: boolean;
  /** The series in answer order; call `return()` to stop early (no further slice is read). */
  slices: AsyncGenerator<MetricsSlice, void, undefined>;
}

export interface MetricsLimits {
  maxPoints: number;
  maxSeries: number;
  maxRawEvents: number;
  /** Most values in one answer: points × series × aggregates. */
  maxCells: number;
  /** Most stored buckets one query reads (each a sketch merge on the sketch path). */
  maxScanBuckets: number;
}

/**
 * What metric reads ask of the stream engine (`StreamEngine` answers at once; a reader worker's
 * stand-in asks the engine's thread, hence the promises): the folded deltas not yet in the store,
 * and which series the engine aggregates per device.
 */
export interface EngineReads {
  unflushedRollups(query: UnflushedRollupsQuery): UnflushedRollup[] | Promise<UnflushedRollup[]>;
  unflushedSeries(query: UnflushedSeriesQuery): UnflushedSeries[] | Promise<UnflushedSeries[]>;
  /** Whether any of `deviceIds` has no per-device rollups of `eventType` (over the series budget). */
  anyUntracked(eventType: string, deviceIds: readonly string[]): boolean | Promise<boolean>;
}

/**
 * Reads with the engine's unflushed deltas, without a flush in between (StreamService): the store
 * plus the deltas `read` gets from `engine` is every committed event exactly once. `engine` is null
 * when stream processing is off.
 */
export interface ConsistentReader {
  consistentRead<T>(read: (engine: EngineReads | null) => Promise<T>): Promise<T>;
}

/** `t` rounded down to a multiple of `step` (also for negative `t`). */
export function floorTo(t: number, step: number): number {
  return t - (((t % step) + step) % step);
}
