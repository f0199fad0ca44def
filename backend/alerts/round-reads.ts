/**
 * The reads of an evaluation round: one metrics query per distinct query
 * shape (event type, filter, window, step, range, groupBy) for all the rules
 * of the round that share it, each asking for the aggregates of its rules;
 * system rules read the in-memory samples. The evaluator reads one shape at
 * a time and evaluates its rules before reading the next, so a round holds
 * the columns of one query, and each rule's readings only while it runs.
 */
import type { AlertDataSource, WindowSeriesQuery } from "./data-source.ts";
import { metadataPairs } from "./data-source.ts";
import type { AlertRule } from "./model.ts";
import { type Reading, readingsOf } from "./rule-eval.ts";
import type { RuleSchedule } from "./schedule.ts";
import type { SystemSampler } from "./system-sampler.ts";

/** Window ends and, per end, the value of every series (built when asked, so a round holds the columns). */
export interface Points {
  ends: number[];
  /** The readings of point `i` (a new array per call). */
  at(i: number): Reading[];
  /** Series read (devices, or 1). */
  series: number;
  /** The per-device read stopped at the per-rule series limit. */
  truncated: boolean;
}

/** One rule to read at every step end from `first` to `end`. */
export interface RuleRead {
  rule: AlertRule;
  schedule: RuleSchedule;
  first: number;
  end: number;
}

/** The query of a threshold or nodata rule over the step ends `first` … `end` (aggregate: the rule's). */
export function ruleQuery(
  read: RuleRead,
  limits: { pageSize: number; maxSeriesPerRule: number },
): WindowSeriesQuery {
  const { rule, schedule, first, end } = read;
  return {
    eventType: rule.eventType!,
    deviceId: rule.filter?.deviceId,
    metadata: metadataPairs(rule.filter?.metadata),
    aggregates: [rule.aggregate],
    windowMs: rule.windowMs,
    stepMs: schedule.stepMs,
    bucketMs: schedule.bucketMs,
    firstEnd: first,
    lastEnd: end,
    groupByDevice: rule.groupBy === "device",
    pageSize: limits.pageSize,
    maxSeries: limits.maxSeriesPerRule,
  };
}

/** The rules of a round sharing one read: a metrics query shape, or a system rule. */
export interface RoundRead {
  rules: RuleRead[];
  /** The shape's query; null: a system rule (read from the in-memory samples). */
  query: WindowSeriesQuery | null;
}

/**
 * Groups a round's rules by query shape (event type, filter, window, step, range, groupBy), one
 * query for all the rules sharing it, asking for every aggregate they need; a system rule alone.
 */
export function planRound(
  reads: readonly RuleRead[],
  limits: { pageSize: number; maxSeriesPerRule: number },
): RoundRead[] {
  const out: RoundRead[] = [];
  const shapes = new Map<string, RoundRead & { query: WindowSeriesQuery }>();
  for (const read of reads) {
    const { rule } = read;
    if (rule.kind === "system") {
      out.push({ rules: [read], query: null });
      continue;
    }
    const q = ruleQuery(read, limits);
    const key = JSON.stringify([
      q.eventType,
      q.deviceId,
      q.metadata,
      q.windowMs,
      q.stepMs,
      q.firstEnd,
      q.lastEnd,
      q.groupByDevice,
    ]);
    const shape = shapes.get(key);
    if (!shape) {
      const created = { rules: [read], query: q };
      shapes.set(key, created);
      out.push(created);
    } else {
      if (!shape.query.aggregates.includes(rule.aggregate)) shape.query.aggregates.push(rule.aggregate);
      shape.rules.push(read);
    }
  }
  return out;
}

/** Reads one shape: each of its rules' points, or null when the read failed (logged through `onError`). */
export async function readShape(
  read: RoundRead,
  o: {
    source: AlertDataSource;
    system: SystemSampler;
    onError: (message: string, fields: Record<string, unknown>) => void;
  },
): Promise<Map<string, Points> | null> {
  const out = new Map<string, Points>();
  if (read.query === null) {
    const { rule, end } = read.rules[0];
    const value = o.system.read(rule.metric!, rule.windowMs, end);
    out.set(rule.id, { ends: [end], at: () => [{ deviceId: null, value }], series: 1, truncated: false });
    return out;
  }
  try {
    const result = await o.source.readWindows(read.query);
    for (const { rule } of read.rules) {
      out.set(rule.id, {
        ends: result.ends,
        at: (i) => readingsOf(result.series, rule.aggregate, i),
        series: result.series.length,
        truncated: result.truncated,
      });
    }
    return out;
  } catch (error) {
    o.onError("alert rule evaluation failed", {
      ruleIds: read.rules.map((r) => r.rule.id),
      error: error instanceof Error ? error.message : String(error),
    });
    return null;
  }
}
