/**
 * When rules are evaluated and how their reads are bucketed. A rule is
 * evaluated at the end of every **step**: the largest stream resolution that
 * divides its window, so a whole-minute window steps with the stored 1-minute
 * rollups and a window under a minute with the live 1-second windows. A window
 * longer than the smallest stored resolution that is not a whole number of it
 * (`90s`) steps with that stored resolution instead of every second: its read
 * (raw events) is then made once per minute, not 60 times; its transitions and
 * `for` are counted in minutes, as with a 1-minute evaluation interval in
 * Prometheus.
 */
import type { AlertRule } from "./model.ts";

export interface RuleSchedule {
  /** Evaluation step, ms: the rule is evaluated at every multiple of it. */
  stepMs: number;
  /** The bucket its reads are made of, ms: divides the window and the step. */
  bucketMs: number;
}

export const floorTo = (t: number, step: number) => t - (((t % step) + step) % step);

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * The schedule of a rule over `resolutions` (ascending; the stream's), where `storedMinMs` is
 * the smallest stored resolution (finer ones are live only, read from raw events).
 */
export function scheduleFor(
  rule: Pick<AlertRule, "kind" | "windowMs">,
  resolutions: readonly number[],
  storedMinMs: number,
): RuleSchedule {
  if (rule.kind === "system") return { stepMs: resolutions[0], bucketMs: resolutions[0] };
  let step = resolutions[0];
  for (let i = resolutions.length - 1; i >= 0; i--) {
    if (rule.windowMs % resolutions[i] === 0) {
      step = resolutions[i];
      break;
    }
  }
  if (step < storedMinMs && rule.windowMs > storedMinMs) {
    return { stepMs: storedMinMs, bucketMs: gcd(rule.windowMs, storedMinMs) };
  }
  return { stepMs: step, bucketMs: step };
}
