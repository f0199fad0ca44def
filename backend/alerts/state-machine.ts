/**
 * The life of one alert instance, as Prometheus runs it:
 *
 *   inactive/resolved --condition--> pending --held for `for`--> firing
 *   pending --condition gone--> inactive
 *   firing --condition gone for `keepFiringFor`--> resolved
 *
 * With `for` 0 an instance goes straight to firing (one transition,
 * inactive → firing). Pure: time is the evaluation time passed in.
 */
import type { AlertInstance, AlertState } from "./model.ts";

/** The rule's timing, ms. */
export interface Timing {
  forMs: number;
  keepFiringForMs: number;
}

/** The instance after one evaluation, and the state change it made (null: none). */
export interface StepResult {
  instance: AlertInstance;
  change: { from: AlertState; to: AlertState } | null;
}

/**
 * Applies one evaluation at `at`: `active` says whether the condition held,
 * `value` is the value read (null: no data). Returns a new object; the input
 * is not modified.
 */
export function stepInstance(
  current: AlertInstance,
  active: boolean,
  value: number | null,
  at: number,
  timing: Timing,
): StepResult {
  const next: AlertInstance = { ...current, value };
  const from = current.state;
  if (active) {
    next.lastTrueAt = at;
    next.keepFiringSince = null;
    if (from === "inactive" || from === "resolved") {
      next.activeAt = at;
      next.firedAt = null;
      next.resolvedAt = null;
      next.state = timing.forMs === 0 ? "firing" : "pending";
      if (next.state === "firing") next.firedAt = at;
    } else if (from === "pending" && at - current.activeAt! >= timing.forMs) {
      next.state = "firing";
      next.firedAt = at;
    }
  } else if (from === "pending") {
    next.state = "inactive";
    next.activeAt = null;
  } else if (from === "firing") {
    // As Prometheus: keepFiringFor counts from the first evaluation that no longer held.
    const since = current.keepFiringSince ?? at;
    next.keepFiringSince = since;
    if (at - since >= timing.keepFiringForMs) {
      next.state = "resolved";
      next.resolvedAt = at;
      next.keepFiringSince = null;
    }
  }
  return { instance: next, change: next.state === from ? null : { from, to: next.state } };
}

/** A new inactive instance. */
export function newInstance(
  ruleId: string,
  fp: string,
  labels: Record<string, string>,
): AlertInstance {
  return {
    fingerprint: fp,
    ruleId,
    state: "inactive",
    labels,
    annotations: {},
    value: null,
    activeAt: null,
    firedAt: null,
    resolvedAt: null,
    lastTrueAt: null,
    keepFiringSince: null,
  };
}

/** Whether `value` compares true against `threshold`. */
export function compare(value: number, op: string, threshold: number): boolean {
  switch (op) {
    case ">":
      return value > threshold;
    case ">=":
      return value >= threshold;
    case "<":
      return value < threshold;
    case "<=":
      return value <= threshold;
    case "==":
      return value === threshold;
    default:
      return value !== threshold;
  }
}
