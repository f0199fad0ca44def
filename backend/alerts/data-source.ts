/**
 * Where rules read their values: window aggregates of one event type, as
 * series of points (one per evaluation step), through the metrics query
 * service (stored rollups with sketch merges for quantiles and distinct
 * counts, raw events for sub-minute steps and metadata filters, plus what the
 * engine has not flushed yet). A per-device read covers every device, page by
 * page, up to `maxSeries`; beyond it the read says it was truncated.
 */
import type { MetricsResult, MetricsService } from "../metrics/metrics-query.ts";
import type { AggregateName } from "../stream/aggregate.ts";

export interface WindowSeriesQuery {
  eventType: string;
  deviceId?: string;
  metadata: [string, string][];
  aggregates: AggregateName[];
  /** The window each point aggregates, ms: a multiple of `bucketMs`. */
  windowMs: number;
  /** Evaluation step, ms: point ends are its multiples. */
  stepMs: number;
  /** What the read is bucketed by: divides `windowMs` and `stepMs` (see schedule.ts). */
  bucketMs: number;
  /** Window ends of the first and last point (multiples of stepMs). */
  firstEnd: number;
  lastEnd: number;
  groupByDevice: boolean;
  /** Most series one metrics query returns (METRICS_MAX_SERIES): the page size. */
  pageSize: number;
  /** Most series read in all (ALERTS_MAX_SERIES_PER_RULE). */
  maxSeries: number;
}

export interface WindowSeries {
  /** Window end of each point. */
  ends: number[];
  series: { deviceId: string | null; values: Partial<Record<AggregateName, (number | null)[]>> }[];
  /** More series matched than `maxSeries`: those beyond it (in device id order) were not read. */
  truncated: boolean;
}

/** The port the evaluator reads through. */
export interface AlertDataSource {
  readWindows(q: WindowSeriesQuery): Promise<WindowSeries>;
}

/** The data source over `MetricsService`: point i is the hopping window ending at ends[i]. */
export function metricsDataSource(metrics: MetricsService): AlertDataSource {
  const page = (q: WindowSeriesQuery, deviceIds: string[], limit: number) =>
    metrics.query({
      eventType: q.eventType,
      deviceIds,
      metadata: q.metadata,
      from: q.firstEnd - q.bucketMs,
      to: q.lastEnd,
      step: q.bucketMs,
      window: q.windowMs,
      aggregates: q.aggregates,
      groupByDevice: q.groupByDevice,
      fill: "null",
      limit,
    });
  return {
    async readWindows(q) {
      const first = await page(q, q.deviceId ? [q.deviceId] : [], Math.min(q.pageSize, q.maxSeries));
      const results: MetricsResult[] = [first];
      let truncated = first.truncated;
      if (first.truncated && first.series.length < q.maxSeries) {
        // More devices than one page: list them (in the same order) and read the rest page by page.
        const seen = new Set(first.series.map((s) => s.deviceId));
        const listed = (await metrics.latest(q.eventType, [], q.maxSeries + 1)).map((s) => s.deviceId!);
        truncated = listed.length > q.maxSeries;
        const rest = listed.slice(0, q.maxSeries).filter((d) => !seen.has(d));
        for (let i = 0; i < rest.length; i += q.pageSize) {
          const ids = rest.slice(i, i + q.pageSize);
          results.push(await page(q, ids, ids.length));
        }
      }
      return pointsAtSteps(q, results, truncated);
    },
  };
}

/** The points of `results` that end at a multiple of the evaluation step, as one series list. */
function pointsAtSteps(q: WindowSeriesQuery, results: MetricsResult[], truncated: boolean): WindowSeries {
  const ends = results[0].timestamps.map((t) => t + q.bucketMs);
  const keep = ends.map((_, i) => i).filter((i) => ends[i] % q.stepMs === 0);
  const every = keep.length === ends.length;
  const series = results.flatMap((r) =>
    r.series.map((s) => ({
      deviceId: q.groupByDevice ? s.deviceId : null,
      values: every ? s.values : Object.fromEntries(
        Object.entries(s.values).map(([name, column]) => [name, keep.map((i) => column![i])]),
      ),
    }))
  );
  return { ends: every ? ends : keep.map((i) => ends[i]), series, truncated };
}

/** The metadata filter of a rule as the query takes it (values compared as their JSON text). */
export function metadataPairs(
  metadata: Record<string, string | number | boolean> | undefined,
): [string, string][] {
  return Object.entries(metadata ?? {}).map(([k, v]) => [k, String(v)]);
}
