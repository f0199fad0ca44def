/**
 * Metric queries: time-aligned series of aggregates over stored rollups, or
 * over raw events when the step is finer than any stored resolution or a
 * metadata filter is given.
 *
 * Resolution choice: the largest stored resolution that divides the step (a
 * 1 h step reads hourly rollups, whatever the range). Output buckets start at
 * multiples of the step (UTC epoch), from the one holding `from` up to the
 * last one starting before `to`. Every answer includes what the engine has
 * folded but not flushed yet, so a query sees every committed event.
 */
import { Agg, type AggregateName } from "../stream/aggregate.ts";
import type { StreamEngine } from "../stream/engine.ts";
import { fillColumn, ScalarColumns } from "./scalar-columns.ts";
import { cmp, combineSeries, type SeriesTotals } from "./series-totals.ts";

export type { SeriesTotals };
import type { CommittedEventPoint, RollupRecord, Store } from "../store/store.ts";
import { ValidationError } from "../errors.ts";

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

interface Collected {
  cells: Map<string, Map<number, Agg>>;
  seen: Map<number, Set<string>>;
  /** Whether `seen` holds the exact device sets for `distinct`. */
  exactDistinct: boolean;
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

export interface MetricsLimits {
  maxPoints: number;
  maxSeries: number;
  maxRawEvents: number;
}

/** Reads with the engine's unflushed deltas, without a flush in between (StreamService). */
export interface ConsistentReader {
  consistentRead<T>(read: (engine: StreamEngine | null) => Promise<T>): Promise<T>;
}

const SKETCH_AGGREGATES = new Set<AggregateName>(["p50", "p90", "p95", "p99", "distinct"]);

export class MetricsService {
  constructor(
    private readonly store: Store,
    private readonly reader: ConsistentReader,
    /** Stored resolutions, ascending. */
    private readonly storedResolutions: readonly number[],
    private readonly limits: MetricsLimits,
  ) {}

  /** The stored resolution a query with `step` and these filters reads, or `raw`. */
  sourceFor(step: number, hasMetadata: boolean): "raw" | number {
    if (hasMetadata) return "raw";
    for (let i = this.storedResolutions.length - 1; i >= 0; i--) {
      if (step % this.storedResolutions[i] === 0) return this.storedResolutions[i];
    }
    return "raw";
  }

  async query(q: MetricsQuery): Promise<MetricsResult> {
    const window = q.window ?? q.step;
    if (window < q.step || window % q.step !== 0) {
      throw new ValidationError("Invalid window", [{
        field: "window",
        message: "window must be a multiple of step",
      }]);
    }
    const first = floorTo(q.from, q.step);
    const buckets = Math.ceil((q.to - first) / q.step);
    if (buckets > this.limits.maxPoints) {
      throw new ValidationError("Too many points", [{
        field: "step",
        message: `the range holds ${buckets} steps; at most ${this.limits.maxPoints} points per series`,
      }]);
    }
    const timestamps = Array.from({ length: Math.max(0, buckets) }, (_, i) => first + i * q.step);
    const source = this.sourceFor(q.step, q.metadata.length > 0);
    const { devices, truncated } = await this.#selectDevices(q);
    // A hopping window of `window` at each step reads the steps it spans: `extra` before `first`.
    const extra = window / q.step - 1;
    if (source !== "raw") {
      this.#checkScan((q.to - first + extra * q.step) / source, Math.max(1, devices.length));
    }
    if (source !== "raw" && !q.aggregates.some((a) => SKETCH_AGGREGATES.has(a))) {
      const series = await this.#scalarSeries(
        q,
        source,
        devices,
        first - extra * q.step,
        timestamps.length,
        extra,
      );
      return { source, timestamps, series, truncated };
    }
    const collected = await this.#collect(q, source, devices, first - extra * q.step, q.to);
    const keys = q.groupByDevice ? devices : [""];
    const series = keys.map((key): MetricsSeries => {
      const byIndex = collected.cells.get(key);
      const windowAt = (i: number): { agg: Agg; devices: number | undefined } | null => {
        if (extra === 0) {
          const agg = byIndex?.get(i);
          return agg ? { agg, devices: collected.seen.get(i)?.size } : null;
        }
        const agg = new Agg();
        const union = new Set<string>();
        for (let j = i; j <= i + extra; j++) {
          const part = byIndex?.get(j);
          if (part) agg.merge(part);
          for (const d of collected.seen.get(j) ?? []) union.add(d);
        }
        return agg.count ? { agg, devices: union.size } : null;
      };
      const values: MetricsSeries["values"] = {};
      for (const name of q.aggregates) {
        const column: (number | null)[] = new Array(timestamps.length);
        for (let i = 0; i < timestamps.length; i++) {
          const w = windowAt(i);
          const exact = name !== "distinct"
            ? undefined
            : q.groupByDevice
            ? 1
            : collected.exactDistinct
            ? w?.devices ?? 0
            : undefined;
          column[i] = w && w.agg.count > 0 ? w.agg.value(name, exact) : null;
        }
        values[name] = fillColumn(column, q.fill);
      }
      return { deviceId: q.groupByDevice ? key : devices.length === 1 ? devices[0] : null, values };
    });
    return { source, timestamps, series, truncated };
  }

  /**
   * Session windows per device: runs of events whose gaps are all shorter than `gapMs`. Built
   * from stored buckets no larger than the gap (each bucket knows its first and last event
   * time, so boundaries are exact), or from raw events for gaps under a minute.
   */
  async sessions(q: {
    eventType: string;
    deviceIds: string[];
    from: number;
    to: number;
    gapMs: number;
    aggregates: AggregateName[];
    limit: number;
  }): Promise<{ source: "raw" | number; devices: DeviceSessions[]; truncated: boolean }> {
    const stored = [...this.storedResolutions].reverse().find((r) => r <= q.gapMs);
    const step = stored ?? 1000;
    const source: "raw" | number = stored ?? "raw";
    const first = floorTo(q.from, step);
    if ((q.to - first) / step > this.limits.maxPoints * 10) {
      throw new ValidationError("Range too long", [{
        field: "from",
        message: `at most ${
          this.limits.maxPoints * 10
        } buckets of ${step} ms; shorten the range or widen gap`,
      }]);
    }
    const base: MetricsQuery = {
      eventType: q.eventType,
      deviceIds: q.deviceIds,
      metadata: [],
      from: q.from,
      to: q.to,
      step,
      aggregates: q.aggregates,
      groupByDevice: true,
      fill: "null",
      limit: q.limit,
    };
    const { devices, truncated } = await this.#selectDevices(base);
    if (source !== "raw") this.#checkScan((q.to - first) / source, Math.max(1, devices.length));
    const collected = await this.#collect(base, source, devices, first, q.to);
    const out: DeviceSessions[] = [];
    for (const deviceId of devices) {
      const byIndex = collected.cells.get(deviceId);
      if (!byIndex) continue;
      const sessions: DeviceSessions["sessions"] = [];
      let current: Agg | null = null;
      const close = () => {
        if (!current) return;
        const values: Partial<Record<AggregateName, number | null>> = {};
        for (const name of q.aggregates) {
          values[name] = current.value(name, name === "distinct" ? 1 : undefined);
        }
        sessions.push({ start: current.minTs, end: current.maxTs, values });
      };
      for (const index of [...byIndex.keys()].sort((a, b) => a - b)) {
        const bucket = byIndex.get(index)!;
        if (bucket.count === 0) continue;
        if (current && bucket.minTs - current.maxTs >= q.gapMs) {
          close();
          current = null;
        }
        if (current) current.merge(bucket);
        else current = bucket.clone();
      }
      close();
      out.push({ deviceId, sessions });
    }
    return { source, devices: out, truncated };
  }

  /**
   * The fast path for aggregates without sketches (count, sum, min, max, avg, last) over
   * rollups: the store's cached columns are folded into typed arrays per series, no objects per
   * bucket. `from` is step-aligned and `extra` steps before the first output point.
   */
  async #scalarSeries(
    q: MetricsQuery,
    resolution: number,
    devices: string[],
    from: number,
    points: number,
    extra: number,
  ): Promise<MetricsSeries[]> {
    const overall = !q.groupByDevice && devices.length === 0;
    const keys = q.groupByDevice ? devices : [""];
    const slots = points + extra;
    const acc = new Map(keys.map((k) => [k, new ScalarColumns(slots)]));
    const target = (deviceId: string | null) => acc.get(q.groupByDevice ? deviceId! : "")!;
    await this.reader.consistentRead(async (engine) => {
      const columns = await this.store.readRollupColumns({
        eventType: q.eventType,
        resolution,
        deviceIds: overall ? [null] : devices,
        from,
        to: q.to,
      });
      for (const c of columns) {
        const into = target(c.deviceId);
        for (let r = 0; r < c.start.length; r++) {
          into.add(
            Math.floor((c.start[r] - from) / q.step),
            c.count[r],
            c.valueCount[r],
            c.sum[r],
            c.min[r],
            c.max[r],
            c.lastValue[r],
            c.lastTs[r],
            c.lastSeq[r],
          );
        }
      }
      const pending = engine?.unflushedRollups({
        eventType: q.eventType,
        resolution,
        deviceIds: overall ? null : devices,
        from,
        to: q.to,
      }) ?? [];
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
    return keys.map((key): MetricsSeries => {
      const a = acc.get(key)!.window(extra);
      const values: MetricsSeries["values"] = {};
      for (const name of q.aggregates) values[name] = fillColumn(a.column(name), q.fill);
      return { deviceId: q.groupByDevice ? key : devices.length === 1 ? devices[0] : null, values };
    });
  }

  /** Refuses a query that would read more stored buckets than the limits allow. */
  #checkScan(bucketsPerSeries: number, series: number): void {
    const perSeries = this.limits.maxPoints * 100;
    const total = this.limits.maxPoints * 2000;
    if (bucketsPerSeries > perSeries || bucketsPerSeries * series > total) {
      throw new ValidationError("Range too large", [{
        field: "from",
        message: `the query would read ${Math.ceil(bucketsPerSeries * series)} stored buckets ` +
          `(at most ${perSeries} per series and ${total} in all); shorten the range, use a coarser step ` +
          "or fewer devices",
      }]);
    }
  }

  /** The devices a query reads: the listed ones, or for groupBy all of the type (up to `limit`). */
  async #selectDevices(q: MetricsQuery): Promise<{ devices: string[]; truncated: boolean }> {
    if (q.groupByDevice && q.deviceIds.length === 0) {
      const listed = await this.#devicesOf(q.eventType, q.limit + 1);
      return { devices: listed.slice(0, q.limit), truncated: listed.length > q.limit };
    }
    if (q.deviceIds.length > q.limit) {
      throw new ValidationError("Too many devices", [{
        field: "deviceId",
        message: `at most ${q.limit} devices per query`,
      }]);
    }
    return { devices: q.deviceIds, truncated: false };
  }

  /**
   * Aggregates per series and step bucket over [from, to) (`from` step-aligned): bucket index 0
   * starts at `from`. Series keys are device ids (groupBy) or "" for one merged series.
   */
  async #collect(
    q: MetricsQuery,
    source: "raw" | number,
    devices: string[],
    from: number,
    to: number,
  ): Promise<Collected> {
    const cells = new Map<string, Map<number, Agg>>();
    const keyOf = (deviceId: string) => (q.groupByDevice ? deviceId : "");
    const into = (key: string, index: number): Agg => {
      let byIndex = cells.get(key);
      if (!byIndex) cells.set(key, byIndex = new Map());
      let agg = byIndex.get(index);
      if (!agg) byIndex.set(index, agg = new Agg());
      return agg;
    };
    const needSketches = q.aggregates.some((a) => SKETCH_AGGREGATES.has(a));
    // Distinct devices of a merged series of listed devices (or raw events) is exact: the set seen.
    const seen = new Map<number, Set<string>>();
    const overall = !q.groupByDevice && devices.length === 0;
    const exactDistinct = !q.groupByDevice && (!overall || source === "raw");

    if (source === "raw") {
      const points = await this.#rawPoints(q, from, to, devices);
      for (const e of points) {
        const index = Math.floor((e.timestamp - from) / q.step);
        into(keyOf(e.deviceId), index).add(e.value, e.timestamp, e.seq);
        if (exactDistinct) addSeen(seen, index, e.deviceId);
      }
      return { cells, seen, exactDistinct };
    }
    await this.reader.consistentRead(async (engine) => {
      const rows = await this.store.readRollups({
        eventType: q.eventType,
        resolution: source,
        deviceIds: overall ? [null] : devices,
        from,
        to,
        sketches: needSketches,
      });
      const pending = engine?.unflushedRollups({
        eventType: q.eventType,
        resolution: source,
        deviceIds: overall ? null : devices,
        from,
        to,
      }) ?? [];
      for (const row of rows) {
        const index = Math.floor((row.start - from) / q.step);
        mergeState(into(keyOf(row.deviceId ?? ""), index), row, needSketches);
        if (exactDistinct && row.state.count > 0) addSeen(seen, index, row.deviceId!);
      }
      for (const p of pending) {
        const index = Math.floor((p.start - from) / q.step);
        into(keyOf(p.deviceId ?? ""), index).merge(p.agg, needSketches);
        if (exactDistinct && p.agg.count > 0) addSeen(seen, index, p.deviceId!);
      }
    });
    return { cells, seen, exactDistinct };
  }

  /** Device totals of one type: latest value, last seen, event count. */
  async latest(eventType: string, deviceIds: string[], limit: number): Promise<SeriesTotals[]> {
    return await this.reader.consistentRead(async (engine) => {
      const stored = await this.store.listSeries({
        eventType,
        devices: true,
        deviceIds: deviceIds.length ? deviceIds : undefined,
        limit: deviceIds.length ? deviceIds.length : limit,
      });
      const pending = engine?.unflushedSeries({ eventType, devices: true }) ?? [];
      return combineSeries(stored, pending, deviceIds.length ? new Set(deviceIds) : null).slice(0, limit);
    });
  }

  /** Event types with totals. */
  async types(): Promise<(SeriesTotals & { devices: number })[]> {
    return await this.reader.consistentRead(async (engine) => {
      const stored = await this.store.listSeries({ devices: false, limit: 100_000 });
      const pending = engine?.unflushedSeries({ devices: false }) ?? [];
      const totals = combineSeries(stored, pending, null);
      const deviceCounts = new Map<string, number>();
      const devices = await this.store.listSeries({ devices: true, limit: 10_000_000 });
      const known = new Set(devices.map((d) => `${d.eventType}\u0000${d.deviceId}`));
      for (const d of devices) deviceCounts.set(d.eventType, (deviceCounts.get(d.eventType) ?? 0) + 1);
      for (const p of engine?.unflushedSeries({ devices: true }) ?? []) {
        if (known.has(`${p.eventType}\u0000${p.deviceId}`)) continue;
        deviceCounts.set(p.eventType, (deviceCounts.get(p.eventType) ?? 0) + 1);
      }
      return totals.map((t) => ({ ...t, devices: deviceCounts.get(t.eventType) ?? 0 }));
    });
  }

  /** The `n` devices with the highest (or lowest) `aggregate` over [from, to). */
  async top(q: {
    eventType: string;
    aggregate: AggregateName;
    from: number;
    to: number;
    n: number;
    order: "desc" | "asc";
  }): Promise<
    { resolution: number; from: number; to: number; devices: { deviceId: string; value: number }[] }
  > {
    // The largest stored resolution at most a tenth of the range; the range widens to its buckets.
    const span = q.to - q.from;
    const resolution = [...this.storedResolutions].reverse().find((r) => r * 10 <= span) ??
      this.storedResolutions[0];
    const from = floorTo(q.from, resolution);
    const to = floorTo(q.to + resolution - 1, resolution);
    if ((to - from) / resolution > this.limits.maxPoints * 10) {
      throw new ValidationError("Range too long", [{ field: "from", message: "the range is too long" }]);
    }
    const devices = await this.#devicesOf(q.eventType, this.limits.maxSeries * 100);
    const result = await this.query({
      eventType: q.eventType,
      deviceIds: devices,
      metadata: [],
      from,
      to,
      step: to - from,
      aggregates: [q.aggregate],
      groupByDevice: true,
      fill: "null",
      limit: devices.length,
    });
    const ranked = result.series
      .map((s) => ({ deviceId: s.deviceId!, value: s.values[q.aggregate]![0] }))
      .filter((d): d is { deviceId: string; value: number } => d.value !== null && d.value !== undefined)
      .sort((a, b) =>
        (q.order === "desc" ? b.value - a.value : a.value - b.value) || cmp(a.deviceId, b.deviceId)
      );
    return { resolution, from, to, devices: ranked.slice(0, q.n) };
  }

  async #devicesOf(eventType: string, limit: number): Promise<string[]> {
    return await this.reader.consistentRead(async (engine) => {
      const stored = await this.store.listSeries({ eventType, devices: true, limit });
      const names = new Set(stored.map((s) => s.deviceId!));
      for (const p of engine?.unflushedSeries({ eventType, devices: true }) ?? []) names.add(p.deviceId!);
      return [...names].sort(cmp).slice(0, limit);
    });
  }

  async #rawPoints(
    q: MetricsQuery,
    from: number,
    to: number,
    devices: string[],
  ): Promise<CommittedEventPoint[]> {
    const points = await this.store.scanEventPoints({
      eventType: q.eventType,
      deviceIds: devices.length ? devices : undefined,
      metadata: q.metadata,
      from,
      to,
      limit: this.limits.maxRawEvents + 1,
    });
    if (points.length > this.limits.maxRawEvents) {
      throw new ValidationError("Too many raw events", [{
        field: "step",
        message: `the range holds more than ${this.limits.maxRawEvents} events; use a step of 1m or more ` +
          "without metadata filters (read from rollups), or a shorter range",
      }]);
    }
    return points;
  }
}

function mergeState(agg: Agg, row: RollupRecord, withSketches: boolean): void {
  const s = row.state;
  agg.merge(Agg.fromState(withSketches ? s : { ...s, sketch: null, devices: null }), withSketches);
}

function addSeen(seen: Map<number, Set<string>>, index: number, deviceId: string): void {
  let set = seen.get(index);
  if (!set) seen.set(index, set = new Set());
  set.add(deviceId);
}

function floorTo(t: number, step: number): number {
  return t - (((t % step) + step) % step);
}
