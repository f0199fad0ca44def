/**
 * The metric explorer's state, kept in the URL (`#/explorer?type=…&dev=…`) so
 * that a view can be shared: event type, devices (none = all), aggregates,
 * step, range (relative `now-1h` or absolute epoch ms) and live mode.
 */
import { isAggregateName } from "../../shared/aggregates.ts";
import { relativeTime, UNIT_MS } from "../../shared/time-units.ts";

export { AGGREGATES } from "../../shared/aggregates.ts";

export const STEPS = ["", "1s", "10s", "1m", "5m", "1h", "1d"];
export const QUICK_RANGES = ["5m", "1h", "24h", "7d"];

export interface ExplorerState {
  type: string;
  devices: string[];
  aggs: string[];
  step: string;
  from: string;
  to: string;
  live: boolean;
}

export function readState(p: URLSearchParams): ExplorerState {
  const list = (k: string) => (p.get(k) ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const aggs = list("agg").filter(isAggregateName);
  return {
    type: p.get("type") ?? "",
    devices: list("dev"),
    aggs: aggs.length ? aggs : ["avg"],
    step: p.get("step") ?? "",
    from: p.get("from") ?? "now-1h",
    to: p.get("to") ?? "now",
    live: p.get("live") === "1",
  };
}

export function stateParams(s: ExplorerState): Record<string, string | undefined> {
  return {
    type: s.type || undefined,
    dev: s.devices.join(",") || undefined,
    agg: s.aggs.join(","),
    step: s.step || undefined,
    from: s.from,
    to: s.to,
    live: s.live ? "1" : undefined,
  };
}

/** Epoch ms of a range end: digits (epoch ms), `now`, `now-<n><unit>`, or ISO-8601. */
export function resolveTime(v: string, now: number): number {
  if (/^\d+$/.test(v)) return Number(v);
  const relative = relativeTime(v, now);
  if (relative !== null) return relative;
  const t = Date.parse(v);
  return Number.isNaN(t) ? now : t;
}

export function stepMs(step: string): number | null {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(step);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : null;
}

export function isRelative(s: ExplorerState): boolean {
  return s.from.startsWith("now") && s.to === "now";
}
