/**
 * The fast path of metric queries: aggregates without sketches (count, sum,
 * min, max, avg, last) over stored rollups. The store's cached buckets arrive
 * as dense typed slots per series (`readRollupSlots`); when the step is the
 * stored resolution they are the answer's accumulators as they are, otherwise
 * they are folded into step slots. The engine's unflushed deltas are added on
 * top, and each aggregate becomes one typed column. No object per bucket.
 */
import type { Store } from "../store/store.ts";
import { SCALAR_FIELDS } from "../stream/aggregate.ts";
import { LAST_FIELDS, ScalarColumns } from "./scalar-columns.ts";
import type { SlotBlockPool } from "./slot-pool.ts";
import type { ConsistentReader, MetricsColumnSeries, MetricsQuery } from "./metrics-types.ts";

/** What a scalar read covers: the query, its series and its step slots. */
export interface ScalarRead {
  query: MetricsQuery;
  /** The devices read (groupBy, or merged into one series); empty: the all-device series. */
  devices: string[];
  /** The stored resolution read, ms: divides the step. */
  resolution: number;
  /** Start of the first slot read: step-aligned, `extra` steps before the first output point. */
  from: number;
  /** Output points. */
  points: number;
  /** Steps before the first point that hopping windows read. */
  extra: number;
}

/**
 * The series of the query over its devices (groupBy), or one merged series, as typed columns,
 * and a `release` that gives their slots back to `deps.pool` (once no column will be asked for
 * again).
 */
export async function readScalarSeries(
  deps: { store: Store; reader: ConsistentReader; pool?: SlotBlockPool },
  read: ScalarRead,
): Promise<{ series: MetricsColumnSeries[]; release: () => void }> {
  const { query: q, devices, resolution, from, points, extra } = read;
  const overall = !q.groupByDevice && devices.length === 0;
  const keys = q.groupByDevice ? devices : [""];
  const length = points + extra;
  const ratio = q.step / resolution;
  // Without `last`, its three fields are neither read from the store nor tracked.
  const last = q.aggregates.includes("last");
  const fields = last ? SCALAR_FIELDS : SCALAR_FIELDS.filter((f) => !LAST_FIELDS.includes(f));
  const acc = new Map<string, ScalarColumns>();
  const target = (deviceId: string | null): ScalarColumns => {
    const key = q.groupByDevice ? deviceId! : "";
    let columns = acc.get(key);
    if (!columns) acc.set(key, columns = new ScalarColumns(length, { last }));
    return columns;
  };
  const taken: Float64Array<ArrayBuffer>[] = [];
  const pool = deps.pool;
  const allocate = pool && ((size: number) => {
    const block = pool.take(size);
    taken.push(block);
    return block;
  });
  await deps.reader.consistentRead(async (engine) => {
    const slots = await deps.store.readRollupSlots({
      allocate,
      eventType: q.eventType,
      resolution,
      deviceIds: overall ? [null] : devices,
      from,
      to: q.to,
      fields,
    });
    for (const s of slots) {
      const key = q.groupByDevice ? s.deviceId! : "";
      // The step is the stored resolution: the slots (as long as the answer) are the accumulators.
      if (ratio === 1 && !acc.has(key)) acc.set(key, new ScalarColumns(length, { adopt: s }));
      else target(s.deviceId).addSlots(s, ratio);
    }
    const pending = (await engine?.unflushedRollups({
      eventType: q.eventType,
      resolution,
      deviceIds: overall ? null : devices,
      from,
      to: q.to,
    })) ?? [];
    for (const { deviceId, start, agg } of pending) {
      const valued = agg.valueCount > 0;
      target(deviceId).add(
        Math.floor((start - from) / q.step),
        agg.count,
        agg.valueCount,
        agg.sum,
        valued ? agg.min : NaN,
        valued ? agg.max : NaN,
        agg.lastValue ?? NaN,
        valued ? agg.lastTs : NaN,
        valued ? agg.lastSeq : NaN,
      );
    }
  });
  const series = keys.map((key): MetricsColumnSeries => {
    const columns = (acc.get(key) ?? new ScalarColumns(length, { last })).window(extra);
    return {
      deviceId: q.groupByDevice ? key : devices.length === 1 ? devices[0] : null,
      column: (name, into) => columns.column(name, q.fill, into),
    };
  });
  let released = false;
  const release = () => {
    if (released || !pool) return;
    released = true;
    pool.give(taken);
  };
  return { series, release };
}
