/**
 * The reads of an evaluation round: one metrics query per distinct query
 * shape (event type, filter, window, step, range, groupBy) for all the rules
 * of the round that share it, each asking for the aggregates of its rules;
 * system rules read the in-memory samples.
 */
import type { AlertDataSource, WindowSeriesQuery } from "./data-source.ts";
import { metadataPairs } from "./data-source.ts";
import type { AlertRule } from "./model.ts";
import { type Reading, readingsOf } from "./rule-eval.ts";
import type { RuleSchedule } from "./schedule.ts";
import type { SystemSampler } from "./system-sampler.ts";

/** Window ends and, per end, the value of every series. */
export interface Points {
  ends: number[];
  points: Reading[][];
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

/** Reads every rule's points; rules whose read failed (logged through `onError`) are left out. */
export async function readRound(
  reads: readonly RuleRead[],
  o: {
    source: AlertDataSource;
    system: SystemSampler;
    pageSize: number;
    maxSeriesPerRule: number;
    onError: (message: string, fields: Record<string, unknown>) => void;
  },
): Promise<{ readings: Map<string, Points>; queries: number }> {
  const out = new Map<string, Points>();
  const shapes = new Map<string, { q: WindowSeriesQuery; rules: AlertRule[] }>();
  for (const read of reads) {
    const { rule, end } = read;
    if (rule.kind === "system") {
      const value = o.system.read(rule.metric!, rule.windowMs, end);
      out.set(rule.id, { ends: [end], points: [[{ deviceId: null, value }]], truncated: false });
      continue;
    }
    const q = ruleQuery(read, o);
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
    if (!shape) shapes.set(key, { q, rules: [rule] });
    else {
      if (!shape.q.aggregates.includes(rule.aggregate)) shape.q.aggregates.push(rule.aggregate);
      shape.rules.push(rule);
    }
  }
  for (const { q, rules } of shapes.values()) {
    try {
      const result = await o.source.readWindows(q);
      for (const rule of rules) {
        out.set(rule.id, {
          ends: result.ends,
          points: result.ends.map((_, i) => readingsOf(result.series, rule.aggregate, i)),
          truncated: result.truncated,
        });
      }
    } catch (error) {
      o.onError("alert rule evaluation failed", {
        ruleIds: rules.map((r) => r.id),
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return { readings: out, queries: shapes.size };
}
