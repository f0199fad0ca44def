/**
 * One evaluation of one rule at one time, pure: the values read for each
 * series go through the state machine of every instance of the rule.
 * Shared by the live evaluator and the dry run.
 */
import type { AggregateName } from "../stream/aggregate.ts";
import { fingerprint, renderAnnotations } from "./labels.ts";
import type { AlertInstance, AlertRule, AlertState } from "./model.ts";
import { compare, newInstance, stepInstance } from "./state-machine.ts";

/** A value read for one series: a device (groupBy device) or null (the whole selection). */
export interface Reading {
  deviceId: string | null;
  value: number | null;
}

export interface InstanceChange {
  instance: AlertInstance;
  from: AlertState;
  to: AlertState;
  /** Evaluation time of the change. */
  at: number;
}

export interface RuleEvaluation {
  /** Instances as they are after the evaluation (changed or not), for the caller to keep. */
  updated: AlertInstance[];
  /** Instances that changed state. */
  changes: InstanceChange[];
  /** Fingerprints to forget (pending that went back to inactive). */
  dropped: string[];
  /** New label sets refused because the rule already holds `maxInstances`. */
  refused: number;
}

/** The labels of a rule's instance for a series. */
export function instanceLabels(rule: AlertRule, deviceId: string | null): Record<string, string> {
  const labels: Record<string, string> = { alertname: rule.name, severity: rule.severity, ...rule.labels };
  const device = deviceId ?? rule.filter?.deviceId ?? null;
  if (device !== null) labels.deviceId = device;
  return labels;
}

/** Whether the condition holds for `value` (no data never holds, except for nodata rules: count 0). */
export function conditionHolds(
  rule: AlertRule,
  value: number | null,
): { active: boolean; value: number | null } {
  if (rule.kind === "nodata") {
    const count = value ?? 0;
    return { active: count < 1, value: count };
  }
  return { active: value !== null && compare(value, rule.op, rule.threshold), value };
}

/** Labels and fingerprints of a rule's series, by device id ("" for none), kept between evaluations. */
export type SeriesLabelCache = Map<string, { labels: Record<string, string>; fingerprint: string }>;

/**
 * Evaluates `rule` at `at` over `readings`, given its current instances (not modified). `cache`
 * (per rule, emptied when the rule changes) saves recomputing labels and fingerprints.
 */
export function evaluateRule(
  rule: AlertRule,
  at: number,
  readings: readonly Reading[],
  current: ReadonlyMap<string, AlertInstance>,
  maxInstances: number,
  cache: SeriesLabelCache = new Map(),
): RuleEvaluation {
  const out: RuleEvaluation = { updated: [], changes: [], dropped: [], refused: 0 };
  const seen = new Set<string>();
  // Only active instances count against the limit: resolved ones are pruned later.
  let size = 0;
  for (const inst of current.values()) if (inst.state === "pending" || inst.state === "firing") size++;
  const apply = (inst: AlertInstance, active: boolean, value: number | null) => {
    const step = stepInstance(inst, active, value, at, rule);
    const next = step.instance;
    // Resolved alerts keep the annotations of their last active evaluation, as Prometheus sends them.
    if (active) next.annotations = renderAnnotations(rule.annotations, value, next.labels);
    if (step.change) out.changes.push({ instance: next, ...step.change, at });
    if (next.state === "inactive") out.dropped.push(next.fingerprint);
    else out.updated.push(next);
  };
  // Without instances, a series whose condition does not hold changes nothing: its labels and
  // fingerprint are not needed (the first round of a rule over many devices skips most of them).
  const none = current.size === 0;
  for (const r of readings) {
    const { active, value } = conditionHolds(rule, r.value);
    if (none && !active) continue;
    let series = cache.get(r.deviceId ?? "");
    if (!series) {
      const labels = instanceLabels(rule, r.deviceId);
      cache.set(r.deviceId ?? "", series = { labels, fingerprint: fingerprint(labels) });
    }
    const { labels, fingerprint: fp } = series;
    if (seen.has(fp)) continue;
    seen.add(fp);
    let inst = current.get(fp);
    if (!inst) {
      if (!active) continue;
      if (size >= maxInstances) {
        out.refused++;
        continue;
      }
      size++;
      inst = newInstance(rule.id, fp, labels);
    }
    apply(inst, active, value);
  }
  for (const [fp, inst] of current) {
    if (seen.has(fp)) continue;
    if (inst.state === "pending" || inst.state === "firing") apply(inst, false, null);
  }
  return out;
}

/** The readings of point `index` for one aggregate. */
export function readingsOf(
  series: { deviceId: string | null; values: Partial<Record<AggregateName, (number | null)[]>> }[],
  aggregate: AggregateName,
  index: number,
): Reading[] {
  return series.map((s) => ({ deviceId: s.deviceId, value: s.values[aggregate]?.[index] ?? null }));
}
