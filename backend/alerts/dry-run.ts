/**
 * Dry run: evaluates a rule over a past range from stored data (rollups, or
 * raw events for sub-minute steps and metadata filters), at every step as the
 * live evaluator would, and returns the transitions it would have made.
 * System rules cannot be replayed: their counters are not stored.
 */
import { ValidationError } from "../errors.ts";
import type { AlertDataSource } from "./data-source.ts";
import type { AlertInstance, AlertRule, AlertState } from "./model.ts";
import { evaluateRule, readingsOf } from "./rule-eval.ts";
import { ruleQuery } from "./round-reads.ts";
import { floorTo, scheduleFor } from "./schedule.ts";

export interface DryRunTransition {
  at: number;
  fingerprint: string;
  labels: Record<string, string>;
  from: AlertState;
  to: AlertState;
  value: number | null;
}

export interface DryRunResult {
  /** The evaluation step the rule was replayed at, ms. */
  stepMs: number;
  /** More series matched than the per-rule limit: those beyond it were not replayed. */
  truncated: boolean;
  transitions: DryRunTransition[];
}

export async function dryRun(
  rule: AlertRule,
  range: { from: number; to: number },
  options: {
    source: AlertDataSource;
    resolutions: readonly number[];
    storedMinResolutionMs: number;
    pageSize: number;
    maxSeries: number;
    maxInstances: number;
  },
): Promise<DryRunResult> {
  if (rule.kind === "system") {
    throw new ValidationError("System rules cannot be dry-run", [{
      field: "rule.kind",
      message: "system metrics are not stored, so they cannot be replayed",
    }]);
  }
  const { stepMs, bucketMs } = scheduleFor(rule, options.resolutions, options.storedMinResolutionMs);
  const firstEnd = floorTo(range.from, stepMs) + stepMs;
  const lastEnd = floorTo(range.to, stepMs);
  if (lastEnd < firstEnd) return { stepMs, truncated: false, transitions: [] };
  const result = await options.source.readWindows(
    ruleQuery({ rule, schedule: { stepMs, bucketMs }, first: firstEnd, end: lastEnd }, {
      pageSize: options.pageSize,
      maxSeriesPerRule: options.maxSeries,
    }),
  );
  const current = new Map<string, AlertInstance>();
  const out: DryRunTransition[] = [];
  result.ends.forEach((end, i) => {
    const ev = evaluateRule(
      rule,
      end,
      readingsOf(result.series, rule.aggregate, i),
      current,
      options.maxInstances,
    );
    for (const inst of ev.updated) current.set(inst.fingerprint, inst);
    for (const fp of ev.dropped) current.delete(fp);
    for (const c of ev.changes) {
      out.push({
        at: c.at,
        fingerprint: c.instance.fingerprint,
        labels: c.instance.labels,
        from: c.from,
        to: c.to,
        value: c.instance.value,
      });
    }
  });
  return { stepMs, truncated: result.truncated, transitions: out };
}
