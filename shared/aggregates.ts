/**
 * The aggregate functions PulseStream computes per window, in one place for the
 * server (queries, live windows, alert rules) and the dashboard (the explorer's
 * choices): the order here is the order they are listed in, in error messages
 * and in the explorer.
 *
 * - `avg`, `min`, `max`, `sum`, `count` (events, valued or not), `last` (value
 *   of the latest event by time): exact.
 * - `p50`, `p90`, `p95`, `p99`: quantiles from a DDSketch, relative error ≤ 1 %.
 * - `distinct`: distinct devices (a HyperLogLog in all-device windows).
 */
export const AGGREGATES = [
  "avg",
  "min",
  "max",
  "sum",
  "count",
  "last",
  "p50",
  "p90",
  "p95",
  "p99",
  "distinct",
] as const;

/** One of `AGGREGATES`. */
export type AggregateName = typeof AGGREGATES[number];

/** Whether `name` is an aggregate function's name. */
export function isAggregateName(name: string): name is AggregateName {
  return (AGGREGATES as readonly string[]).includes(name);
}
