/**
 * The general path of metric queries: one aggregate object per series and
 * step bucket, built from raw events (sub-minute steps, metadata filters) or
 * from stored rollups with their sketches (quantiles, distinct devices). Slower
 * than the scalar path (scalar-series.ts) but answers every aggregate.
 */
import { Agg, type AggregateName } from "../stream/aggregate.ts";
import type { CommittedEventPoint, RollupRecord, Store } from "../store/store.ts";
import { ValidationError } from "../errors.ts";
import { fillColumn, toTypedColumn } from "./scalar-columns.ts";
import type { ConsistentReader, MetricsColumnSeries, MetricsLimits, MetricsQuery } from "./metrics-types.ts";

/** Aggregates that need the stored sketches: never on the scalar path. */
export const SKETCH_AGGREGATES: ReadonlySet<AggregateName> = new Set<AggregateName>([
  "p50",
  "p90",
  "p95",
  "p99",
  "distinct",
]);

/** What `collectBuckets` read. */
export interface CollectedBuckets {
  /** Per series key (device id, or "" for one merged series): aggregate per bucket index. */
  cells: Map<string, Map<number, Agg>>;
  /** Devices seen per bucket index (only when `exactDistinct`). */
  seen: Map<number, Set<string>>;
  /** Whether `seen` holds the exact device sets for `distinct`. */
  exactDistinct: boolean;
}

export interface BucketDeps {
  store: Store;
  reader: ConsistentReader;
  limits: MetricsLimits;
}

/**
 * Aggregates per series and step bucket over [from, to) (`from` step-aligned): bucket index 0
 * starts at `from`. Series keys are device ids (groupBy) or "" for one merged series.
 */
export async function collectBuckets(
  deps: BucketDeps,
  read: {
    query: MetricsQuery;
    source: "raw" | number;
    devices: string[];
    from: number;
    to: number;
    /** Start of bucket index 0 (default `from`): a range read in parts merges into one `into`. */
    origin?: number;
  },
  into?: CollectedBuckets,
): Promise<CollectedBuckets> {
  const { query: q, source, devices, to } = read;
  const range = { from: read.from, to };
  const from = read.origin ?? read.from;
  const cells = into?.cells ?? new Map<string, Map<number, Agg>>();
  const keyOf = (deviceId: string) => (q.groupByDevice ? deviceId : "");
  const aggAt = (key: string, index: number): Agg => {
    let byIndex = cells.get(key);
    if (!byIndex) cells.set(key, byIndex = new Map());
    let agg = byIndex.get(index);
    if (!agg) byIndex.set(index, agg = new Agg());
    return agg;
  };
  const needSketches = q.aggregates.some((a) => SKETCH_AGGREGATES.has(a));
  // Distinct devices of a merged series of listed devices (or raw events) is exact: the set seen.
  const seen = into?.seen ?? new Map<number, Set<string>>();
  const overall = !q.groupByDevice && devices.length === 0;
  const exactDistinct = !q.groupByDevice && (!overall || source === "raw");

  if (source === "raw") {
    const points = await rawPoints(deps, q, range, devices);
    for (const e of points) {
      const index = Math.floor((e.timestamp - from) / q.step);
      aggAt(keyOf(e.deviceId), index).add(e.value, e.timestamp, e.seq);
      if (exactDistinct) addSeen(seen, index, e.deviceId);
    }
    return { cells, seen, exactDistinct };
  }
  await deps.reader.consistentRead(async (engine) => {
    const rows = await deps.store.readRollups({
      eventType: q.eventType,
      resolution: source,
      deviceIds: overall ? [null] : devices,
      from: range.from,
      to,
      sketches: needSketches,
    });
    const pending = (await engine?.unflushedRollups({
      eventType: q.eventType,
      resolution: source,
      deviceIds: overall ? null : devices,
      from: range.from,
      to,
    })) ?? [];
    for (const row of rows) {
      const index = Math.floor((row.start - from) / q.step);
      mergeState(cells, keyOf(row.deviceId ?? ""), index, row, needSketches);
      if (exactDistinct && row.state.count > 0) addSeen(seen, index, row.deviceId!);
    }
    for (const p of pending) {
      const index = Math.floor((p.start - from) / q.step);
      aggAt(keyOf(p.deviceId ?? ""), index).merge(p.agg, needSketches);
      if (exactDistinct && p.agg.count > 0) addSeen(seen, index, p.deviceId!);
    }
  });
  return { cells, seen, exactDistinct };
}

/**
 * The answer's series from collected buckets: `points` output points, each merging its bucket
 * and the `extra` before it (hopping windows), with the fill mode applied.
 */
export function bucketSeries(
  collected: CollectedBuckets,
  shape: { query: MetricsQuery; devices: string[]; points: number; extra: number },
): MetricsColumnSeries[] {
  const { query: q, devices, points, extra } = shape;
  if (extra === 0) {
    const columns: PointColumns = new Map();
    takePoints(collected, shape, columns, 0, points);
    return columnSeries(columns, shape);
  }
  const keys = q.groupByDevice ? devices : [""];
  return keys.map((key): MetricsColumnSeries => {
    const byIndex = collected.cells.get(key);
    const windowAt = (i: number): { agg: Agg; devices: number } | null => {
      const agg = new Agg();
      const union = new Set<string>();
      for (let j = i; j <= i + extra; j++) {
        const part = byIndex?.get(j);
        if (part) agg.merge(part);
        for (const d of collected.seen.get(j) ?? []) union.add(d);
      }
      return agg.count ? { agg, devices: union.size } : null;
    };
    const values: Partial<Record<AggregateName, Float64Array>> = {};
    for (const name of q.aggregates) {
      const column: (number | null)[] = new Array(points);
      for (let i = 0; i < points; i++) {
        const w = windowAt(i);
        column[i] = w && w.agg.count > 0
          ? w.agg.value(name, exactDistinct(collected, q, name, w.devices))
          : null;
      }
      values[name] = toTypedColumn(fillColumn(column, q.fill));
    }
    return {
      deviceId: q.groupByDevice ? key : devices.length === 1 ? devices[0] : null,
      column: (name) => values[name] ?? new Float64Array(points).fill(NaN),
    };
  });
}

/** Nullable columns of an answer by series key and aggregate, filled part by part (`takePoints`). */
export type PointColumns = Map<string, Partial<Record<AggregateName, (number | null)[]>>>;

/**
 * Writes the values of points [first, end) into `columns` from collected buckets (without
 * hopping windows, point i is bucket i) and drops those buckets from `collected`: a range read in
 * parts then holds the aggregates of one part at a time.
 */
export function takePoints(
  collected: CollectedBuckets,
  shape: { query: MetricsQuery; devices: string[]; points: number },
  columns: PointColumns,
  first: number,
  end: number,
): void {
  const { query: q, devices, points } = shape;
  for (const key of q.groupByDevice ? devices : [""]) {
    let own = columns.get(key);
    if (!own) {
      own = {};
      for (const name of q.aggregates) own[name] = new Array(points).fill(null);
      columns.set(key, own);
    }
    const byIndex = collected.cells.get(key);
    if (!byIndex) continue;
    for (let i = first; i < end; i++) {
      const agg = byIndex.get(i);
      if (!agg) continue;
      if (agg.count > 0) {
        for (const name of q.aggregates) {
          own[name]![i] = agg.value(
            name,
            exactDistinct(collected, q, name, collected.seen.get(i)?.size ?? 0),
          );
        }
      }
      byIndex.delete(i);
    }
  }
  for (let i = first; i < end; i++) collected.seen.delete(i);
}

/** The answer's series from `columns` (see `takePoints`), with the fill mode applied. */
export function columnSeries(
  columns: PointColumns,
  shape: { query: MetricsQuery; devices: string[]; points: number },
): MetricsColumnSeries[] {
  const { query: q, devices, points } = shape;
  return (q.groupByDevice ? devices : [""]).map((key): MetricsColumnSeries => {
    const values: Partial<Record<AggregateName, Float64Array>> = {};
    for (const name of q.aggregates) {
      values[name] = toTypedColumn(
        fillColumn(columns.get(key)?.[name] ?? new Array(points).fill(null), q.fill),
      );
    }
    return {
      deviceId: q.groupByDevice ? key : devices.length === 1 ? devices[0] : null,
      column: (name) => values[name] ?? new Float64Array(points).fill(NaN),
    };
  });
}

/** The exact device count `distinct` uses, where it is known (per device: 1; listed devices: the set seen). */
function exactDistinct(
  collected: CollectedBuckets,
  q: MetricsQuery,
  name: AggregateName,
  seen: number,
): number | undefined {
  if (name !== "distinct") return undefined;
  return q.groupByDevice ? 1 : collected.exactDistinct ? seen : undefined;
}

async function rawPoints(
  deps: BucketDeps,
  q: MetricsQuery,
  range: { from: number; to: number },
  devices: string[],
): Promise<CommittedEventPoint[]> {
  const max = deps.limits.maxRawEvents;
  const points = await deps.store.scanEventPoints({
    eventType: q.eventType,
    deviceIds: devices.length ? devices : undefined,
    metadata: q.metadata,
    from: range.from,
    to: range.to,
    limit: max + 1,
  });
  if (points.length > max) {
    throw new ValidationError("Too many raw events", [{
      field: "step",
      message: `the range holds more than ${max} events; use a step of 1m or more ` +
        "without metadata filters (read from rollups), or a shorter range",
    }]);
  }
  return points;
}

/** Merges a stored bucket into its cell; the first bucket of a cell is the cell (one decode, no copy). */
function mergeState(
  cells: Map<string, Map<number, Agg>>,
  key: string,
  index: number,
  row: RollupRecord,
  withSketches: boolean,
): void {
  const s = row.state;
  const decoded = Agg.fromState(withSketches ? s : { ...s, sketch: null, devices: null });
  let byIndex = cells.get(key);
  if (!byIndex) cells.set(key, byIndex = new Map());
  const agg = byIndex.get(index);
  if (agg) agg.merge(decoded, withSketches);
  else byIndex.set(index, decoded);
}

function addSeen(seen: Map<number, Set<string>>, index: number, deviceId: string): void {
  let set = seen.get(index);
  if (!set) seen.set(index, set = new Set());
  set.add(deviceId);
}
