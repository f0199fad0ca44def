/**
 * Metric queries: time-aligned series of aggregates over stored rollups, or
 * over raw events when the step is finer than any stored resolution or a
 * metadata filter is given.
 *
 * Resolution choice: the largest stored resolution that divides the step (a
 * 1 h step reads hourly rollups, whatever the range); raw events for listed
 * devices whose series is over the series budget (no per-device rollups). Output buckets start at
 * multiples of the step (UTC epoch), from the one holding `from` up to the
 * last one starting before `to`. Every answer includes what the engine has
 * folded but not flushed yet, so a query sees every committed event.
 */
import { Agg, type AggregateName } from "../stream/aggregate.ts";
import type { Store } from "../store/store.ts";
import { ValidationError } from "../errors.ts";
import { toNullableColumn } from "./scalar-columns.ts";
import { cmp, combineSeries, type SeriesTotals } from "./series-totals.ts";
import {
  bucketSeries,
  collectBuckets,
  type CollectedBuckets,
  columnSeries,
  type PointColumns,
  SKETCH_AGGREGATES,
  takePoints,
} from "./bucket-series.ts";
import { readScalarSeries } from "./scalar-series.ts";
import { SlotBlockPool } from "./slot-pool.ts";
import {
  type ConsistentReader,
  type DeviceSessions,
  floorTo,
  type MetricsColumnsResult,
  type MetricsLimits,
  type MetricsQuery,
  type MetricsResult,
  type MetricsSeries,
  type MetricsSlice,
  type MetricsSlicedResult,
} from "./metrics-types.ts";
import { StepPacer } from "../reads/step-pacer.ts";

export type { SeriesTotals };
export type {
  ConsistentReader,
  DeviceSessions,
  FillMode,
  MetricsColumnSeries,
  MetricsColumnsResult,
  MetricsLimits,
  MetricsQuery,
  MetricsResult,
  MetricsSeries,
  MetricsSlice,
  MetricsSlicedResult,
} from "./metrics-types.ts";

/**
 * Stored buckets one step of a sliced query reads (see `querySlices`): reading and merging a
 * bucket with its sketch costs 2-6 µs (more on a busy machine), so 2,000 are a few ms; the
 * scalar path copies cached slots at a small fraction of that (a cold cache reads SQLite).
 */
const SLICE_SKETCH_BUCKETS = 2_000;
const SLICE_SCALAR_BUCKETS = 200_000;

/** What `#plan` decided for a series query. */
interface QueryPlan {
  source: "raw" | number;
  timestamps: number[];
  devices: string[];
  truncated: boolean;
  /** Start of the first step slot read (hopping windows read `extra` steps before the first point). */
  from: number;
  points: number;
  extra: number;
  /** Stored buckets per series read (0 for raw). */
  bucketsPerSeries: number;
}

/**
 * Metric reads over the store and the engine's unflushed deltas: series of aggregates
 * (`query`, `queryColumns`), sessions, totals per type and device, and top-N devices.
 */
export class MetricsService {
  /** Slot memory reused across scalar queries: two answers of a day of minutes for 1,000 devices. */
  readonly #pool = new SlotBlockPool(128 * 2 ** 20);

  constructor(
    private readonly store: Store,
    private readonly reader: ConsistentReader,
    /** Stored resolutions, ascending. */
    private readonly storedResolutions: readonly number[],
    private readonly limits: MetricsLimits,
    private readonly options: {
      /**
       * Stored buckets with sketches one part of a sliced query reads (default
       * `SLICE_SKETCH_BUCKETS`): small on the thread that answers ingest, larger on a reader worker,
       * where a part costs a round trip to the engine's thread.
       */
      sliceSketchBuckets?: number;
    } = {},
  ) {}

  get #sketchBuckets(): number {
    return this.options.sliceSketchBuckets ?? SLICE_SKETCH_BUCKETS;
  }

  /** The stored resolution a query with `step` and these filters reads, or `raw`. */
  sourceFor(step: number, hasMetadata: boolean): "raw" | number {
    if (hasMetadata) return "raw";
    for (let i = this.storedResolutions.length - 1; i >= 0; i--) {
      if (step % this.storedResolutions[i] === 0) return this.storedResolutions[i];
    }
    return "raw";
  }

  /** The answer as nullable arrays (see `queryColumns`; NaN there is null here). */
  async query(q: MetricsQuery): Promise<MetricsResult> {
    const result = await this.queryColumns(q);
    const series = result.series.map((s): MetricsSeries => {
      const values: MetricsSeries["values"] = {};
      for (const name of q.aggregates) values[name] = toNullableColumn(s.column(name));
      return { deviceId: s.deviceId, values };
    });
    result.release();
    return { source: result.source, timestamps: result.timestamps, series, truncated: result.truncated };
  }

  /**
   * The answer as typed columns, one per aggregate and series, aligned with `timestamps`: what
   * the HTTP answer is written from without an array of boxed numbers in between.
   */
  async queryColumns(q: MetricsQuery): Promise<MetricsColumnsResult> {
    const plan = await this.#plan(q);
    const { series, release } = await this.#readSeries(q, plan, plan.devices);
    return { source: plan.source, timestamps: plan.timestamps, series, truncated: plan.truncated, release };
  }

  /**
   * The answer of `queryColumns` read in slices of devices (groupBy), each read only when the
   * consumer asks for it, after a macrotask: no step holds the thread for more than about
   * `sliceBuckets` stored buckets, and only the slice being written is in memory. Each device's
   * series is consistent with the engine's unflushed deltas (a flush may land between slices).
   * Validation errors are thrown here, with the first slice read.
   */
  async querySlices(q: MetricsQuery, options: { sliceBuckets?: number } = {}): Promise<MetricsSlicedResult> {
    const plan = await this.#plan(q);
    const sketches = plan.source === "raw" || q.aggregates.some((a) => SKETCH_AGGREGATES.has(a));
    const budget = options.sliceBuckets ?? (sketches ? this.#sketchBuckets : SLICE_SCALAR_BUCKETS);
    const size = plan.source === "raw" || !q.groupByDevice
      ? Math.max(1, plan.devices.length)
      : Math.max(1, Math.floor(budget / Math.max(1, plan.bucketsPerSeries)));
    const pacer = new StepPacer();
    const read = (devices: string[]) => this.#readSeries(q, plan, devices, pacer);
    const groups = q.groupByDevice && plan.devices.length > size
      ? Array.from(
        { length: Math.ceil(plan.devices.length / size) },
        (_, i) => plan.devices.slice(i * size, (i + 1) * size),
      )
      : [plan.devices];
    // The first slice is read now, so that what only reading finds (too many raw events) is a 400.
    const first = await read(groups[0]);
    async function* slices(): AsyncGenerator<MetricsSlice, void, undefined> {
      yield first;
      for (let i = 1; i < groups.length; i++) {
        await pacer.pace();
        yield await read(groups[i]);
      }
    }
    return {
      source: plan.source,
      timestamps: plan.timestamps,
      truncated: plan.truncated,
      slices: slices(),
    };
  }

  /** Checks a series query against the limits and picks its source, step slots and devices. */
  async #plan(q: MetricsQuery): Promise<QueryPlan> {
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
    const points = Math.max(0, buckets);
    const timestamps = Array.from({ length: points }, (_, i) => first + i * q.step);
    const { devices, truncated } = await this.#selectDevices(q);
    const source = await this.#sourceOf(q.eventType, devices, this.sourceFor(q.step, q.metadata.length > 0));
    // A hopping window of `window` at each step reads the steps it spans: `extra` before `first`.
    const extra = window / q.step - 1;
    const from = first - extra * q.step;
    const bucketsPerSeries = source === "raw" ? 0 : Math.ceil((q.to - from) / source);
    if (source !== "raw") this.#checkScan(bucketsPerSeries, Math.max(1, devices.length));
    const series = q.groupByDevice ? devices.length : 1;
    const cells = points * series * q.aggregates.length;
    if (cells > this.limits.maxCells) {
      throw new ValidationError("Query too large", [{
        field: "step",
        message: `the answer would hold ${cells} values (points × series × aggregates); at most ` +
          `${this.limits.maxCells}: shorten the range, use a coarser step, fewer devices or aggregates`,
      }]);
    }
    return { source, timestamps, devices, truncated, from, points, extra, bucketsPerSeries };
  }

  /** The series of `devices` (a slice of the plan's, or all of them). */
  async #readSeries(
    q: MetricsQuery,
    plan: QueryPlan,
    devices: string[],
    /** Given for a sliced read: the sketch path then reads in parts, pacing between them. */
    pacer?: StepPacer,
  ): Promise<MetricsSlice> {
    const { source, from, points, extra } = plan;
    const deps = { store: this.store, reader: this.reader, limits: this.limits, pool: this.#pool };
    if (source !== "raw" && !q.aggregates.some((a) => SKETCH_AGGREGATES.has(a))) {
      return await readScalarSeries(deps, { query: q, devices, resolution: source, from, points, extra });
    }
    const shape = { query: q, devices, points, extra };
    if (source === "raw" || !pacer || extra > 0) {
      const collected = await collectBuckets(deps, { query: q, source, devices, from, to: q.to });
      return { series: bucketSeries(collected, shape), release: () => {} };
    }
    // Sketches are decoded and merged per bucket (the costly part): the range is read in parts of
    // about SLICE_SKETCH_BUCKETS buckets over the slice's devices, each after a macrotask, and each
    // part's points are computed (and its aggregates dropped) before the next is read. The parts
    // are disjoint, so every bucket is read once, from the store or the engine, even if a flush
    // lands between two parts. (Hopping windows need their neighbours: read whole, above.)
    const ratio = q.step / source;
    const perPart = Math.max(1, Math.floor(this.#sketchBuckets / Math.max(1, devices.length) / ratio));
    const columns: PointColumns = new Map();
    let collected: CollectedBuckets | undefined;
    for (let start = from; start < q.to; start += perPart * q.step) {
      if (collected) await pacer.pace();
      const end = Math.min(q.to, start + perPart * q.step);
      collected = await collectBuckets(deps, {
        query: q,
        source,
        devices,
        from: start,
        to: end,
        origin: from,
      }, collected);
      takePoints(collected, shape, columns, (start - from) / q.step, Math.ceil((end - from) / q.step));
    }
    return { series: columnSeries(columns, shape), release: () => {} };
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
    const source = await this.#sourceOf(q.eventType, devices, stored ?? "raw");
    if (source !== "raw") this.#checkScan((q.to - first) / source, Math.max(1, devices.length));
    const collected = await collectBuckets(
      { store: this.store, reader: this.reader, limits: this.limits },
      { query: base, source, devices, from: first, to: q.to },
    );
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
   * `stored`, or raw events when a listed device's series is over the series budget: the engine
   * keeps no per-device rollups for it (stream/series-budget.ts), its raw events are exact.
   */
  async #sourceOf(eventType: string, devices: string[], stored: "raw" | number): Promise<"raw" | number> {
    if (stored === "raw" || devices.length === 0) return stored;
    const overBudget = await this.reader.consistentRead(async (engine) =>
      engine !== null && await engine.anyUntracked(eventType, devices)
    );
    return overBudget ? "raw" : stored;
  }

  /** Refuses a query that would read more stored buckets than the limits allow. */
  #checkScan(bucketsPerSeries: number, series: number): void {
    const perSeries = this.limits.maxPoints * 100;
    const total = this.limits.maxScanBuckets;
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

  /** Device totals of one type: latest value, last seen, event count. */
  async latest(eventType: string, deviceIds: string[], limit: number): Promise<SeriesTotals[]> {
    return await this.reader.consistentRead(async (engine) => {
      const stored = await this.store.listSeries({
        eventType,
        devices: true,
        deviceIds: deviceIds.length ? deviceIds : undefined,
        limit: deviceIds.length ? deviceIds.length : limit,
      });
      const pending = (await engine?.unflushedSeries({ eventType, devices: true })) ?? [];
      return combineSeries(stored, pending, deviceIds.length ? new Set(deviceIds) : null).slice(0, limit);
    });
  }

  /** Event types with totals. */
  async types(): Promise<(SeriesTotals & { devices: number })[]> {
    return await this.reader.consistentRead(async (engine) => {
      const stored = await this.store.listSeries({ devices: false, limit: 100_000 });
      const pending = (await engine?.unflushedSeries({ devices: false })) ?? [];
      const totals = combineSeries(stored, pending, null);
      const deviceCounts = new Map<string, number>();
      const devices = await this.store.listSeries({ devices: true, limit: 10_000_000 });
      const known = new Set(devices.map((d) => `${d.eventType}\u0000${d.deviceId}`));
      for (const d of devices) deviceCounts.set(d.eventType, (deviceCounts.get(d.eventType) ?? 0) + 1);
      for (const p of (await engine?.unflushedSeries({ devices: true })) ?? []) {
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
      for (const p of (await engine?.unflushedSeries({ eventType, devices: true })) ?? []) {
        names.add(p.deviceId!);
      }
      return [...names].sort(cmp).slice(0, limit);
    });
  }
}
