/**
 * Where rules read their values: window aggregates of one event type, as
 * series of points (one per evaluation step), through the metrics query
 * service (stored rollups with sketch merges for quantiles and distinct
 * counts, raw events for sub-minute steps and metadata filters, plus what the
 * engine has not flushed yet).
 */
import type { MetricsService } from "../metrics/metrics-query.ts";
import type { AggregateName } from "../stream/aggregate.ts";

export interface WindowSeriesQuery {
  eventType: string;
  deviceId?: string;
  metadata: [string, string][];
  aggregates: AggregateName[];
  /** The window each point aggregates, ms: a multiple of `stepMs`. */
  windowMs: number;
  stepMs: number;
  /** Window ends of the first and last point: from + stepMs … to (multiples of stepMs). */
  firstEnd: number;
  lastEnd: number;
  groupByDevice: boolean;
  /** Most series. */
  limit: number;
}

export interface WindowSeries {
  /** Window end of each point. */
  ends: number[];
  series: { deviceId: string | null; values: Partial<Record<AggregateName, (number | null)[]>> }[];
}

/** The port the evaluator reads through. */
export interface AlertDataSource {
  readWindows(q: WindowSeriesQuery): Promise<WindowSeries>;
}

/** The data source over `MetricsService`: point i is the hopping window ending at ends[i]. */
export function metricsDataSource(metrics: MetricsService): AlertDataSource {
  return {
    async readWindows(q) {
      const result = await metrics.query({
        eventType: q.eventType,
        deviceIds: q.deviceId ? [q.deviceId] : [],
        metadata: q.metadata,
        from: q.firstEnd - q.stepMs,
        to: q.lastEnd,
        step: q.stepMs,
        window: q.windowMs,
        aggregates: q.aggregates,
        groupByDevice: q.groupByDevice,
        fill: "null",
        limit: q.limit,
      });
      return {
        ends: result.timestamps.map((t) => t + q.stepMs),
        series: result.series.map((s) => ({
          deviceId: q.groupByDevice ? s.deviceId : null,
          values: s.values,
        })),
      };
    },
  };
}

/** The metadata filter of a rule as the query takes it (values compared as their JSON text). */
export function metadataPairs(
  metadata: Record<string, string | number | boolean> | undefined,
): [string, string][] {
  return Object.entries(metadata ?? {}).map(([k, v]) => [k, String(v)]);
}
