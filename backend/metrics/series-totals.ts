/**
 * Per-series totals (event types, latest values per device): the stored series
 * rows merged with the stream engine's unflushed series deltas.
 */
import { Agg, type AggState } from "../stream/aggregate.ts";

export interface SeriesTotals {
  eventType: string;
  deviceId: string | null;
  count: number;
  firstSeen: number | null;
  lastSeen: number | null;
  lastValue: number | null;
  lastValueAt: number | null;
}

export function combineSeries(
  stored: { eventType: string; deviceId: string | null; state: AggState }[],
  pending: { eventType: string; deviceId: string | null; agg: Agg }[],
  only: Set<string> | null,
): SeriesTotals[] {
  const byKey = new Map<string, { eventType: string; deviceId: string | null; agg: Agg }>();
  const keyOf = (t: string, d: string | null) => `${t}\u0000${d ?? ""}`;
  for (const s of stored) {
    byKey.set(keyOf(s.eventType, s.deviceId), {
      eventType: s.eventType,
      deviceId: s.deviceId,
      agg: Agg.fromState({ ...s.state, sketch: null, devices: null }),
    });
  }
  for (const p of pending) {
    if (only && !only.has(p.deviceId!)) continue;
    const key = keyOf(p.eventType, p.deviceId);
    const existing = byKey.get(key);
    if (existing) existing.agg.merge(p.agg, false);
    else byKey.set(key, { eventType: p.eventType, deviceId: p.deviceId, agg: p.agg.clone() });
  }
  return [...byKey.values()]
    .sort((a, b) => cmp(a.eventType, b.eventType) || cmp(a.deviceId ?? "", b.deviceId ?? ""))
    .map(({ eventType, deviceId, agg }) => ({
      eventType,
      deviceId,
      count: agg.count,
      firstSeen: agg.count ? agg.minTs : null,
      lastSeen: agg.count ? agg.maxTs : null,
      lastValue: agg.lastValue,
      lastValueAt: agg.lastValue === null ? null : agg.lastTs,
    }));
}

/** Plain code-unit order of strings (stable across locales). */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
