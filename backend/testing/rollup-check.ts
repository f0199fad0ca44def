/**
 * Brute-force check of the stream engine's stored rollups: recomputes every
 * bucket of every resolution from the stored raw events and compares it with
 * what the store holds (exact for count, sum, min, max, last and time range;
 * quantiles within the sketch's 1% relative error; distinct devices within the
 * HyperLogLog's error). Used by the property test and the crash test.
 */
import { expect } from "vitest";
import { Agg, type AggregateName } from "../stream/aggregate.ts";
import type { CommittedEventPoint, Store } from "../store/store.ts";

interface Expected {
  events: CommittedEventPoint[];
  devices: Set<string>;
}

const QUANTILES: [AggregateName, number][] = [["p50", 0.5], ["p90", 0.9], ["p95", 0.95], ["p99", 0.99]];

/** All committed events, in seq order. */
export async function allEvents(store: Store): Promise<CommittedEventPoint[]> {
  const out: CommittedEventPoint[] = [];
  for (let after = 0;;) {
    const page = await store.eventsAfter(after, 10_000);
    if (page.length === 0) return out;
    out.push(...page);
    after = page[page.length - 1].seq;
  }
}

/**
 * The series a budget of `maxSeries` tracks (stream/series-budget.ts), recomputed from the events
 * in seq order: the first `maxSeries` distinct series, none of a type after its first refusal.
 */
export function trackedSeries(events: readonly CommittedEventPoint[], maxSeries: number): Set<string> {
  const tracked = new Set<string>();
  const closed = new Set<string>();
  for (const e of events) {
    const key = `${e.eventType}|${e.deviceId}`;
    if (tracked.has(key)) continue;
    if (tracked.size < maxSeries && !closed.has(e.eventType)) tracked.add(key);
    else closed.add(e.eventType);
  }
  return tracked;
}

/**
 * Asserts that the stored rollups at `resolutions` hold every stored event exactly once: in the
 * all-device buckets always, and in the per-device buckets and series of the series a budget of
 * `maxSeries` tracks (every series by default), while the others have none.
 */
export async function expectRollupsMatchEvents(
  store: Store,
  resolutions: readonly number[],
  options: { maxSeries?: number } = {},
): Promise<number> {
  const events = await allEvents(store);
  expect(await store.rollupCheckpoint()).toBe(events.length ? events[events.length - 1].seq : 0);
  const tracked = trackedSeries(events, options.maxSeries ?? Infinity);
  const expected = new Map<string, Expected>();
  const keyOf = (type: string, device: string | null, res: number, start: number) =>
    `${type}|${device ?? "*"}|${res}|${start}`;
  for (const e of events) {
    for (const res of resolutions) {
      const start = e.timestamp - (((e.timestamp % res) + res) % res);
      const perDevice = tracked.has(`${e.eventType}|${e.deviceId}`);
      for (const device of perDevice ? [e.deviceId, null] : [null]) {
        const key = keyOf(e.eventType, device, res, start);
        let x = expected.get(key);
        if (!x) expected.set(key, x = { events: [], devices: new Set() });
        x.events.push(e);
        x.devices.add(e.deviceId);
      }
    }
  }

  const types = new Map<string, Set<string>>();
  for (const e of events) {
    if (!types.has(e.eventType)) types.set(e.eventType, new Set());
    types.get(e.eventType)!.add(e.deviceId);
  }
  let compared = 0;
  const storedKeys = new Set<string>();
  for (const [type, devices] of types) {
    for (const res of resolutions) {
      const rows = await store.readRollups({
        eventType: type,
        resolution: res,
        deviceIds: [null, ...devices],
        from: -8.64e15,
        to: 8.64e15,
        sketches: true,
      });
      for (const row of rows) {
        const key = keyOf(type, row.deviceId, res, row.start);
        storedKeys.add(key);
        const x = expected.get(key);
        expect(x, `stored bucket ${key} has no events`).toBeDefined();
        compareBucket(key, Agg.fromState(row.state), x!, row.deviceId === null);
        compared++;
      }
    }
  }
  const missing = [...expected.keys()].filter((k) => !storedKeys.has(k));
  expect(missing, "buckets with events but no stored rollup").toEqual([]);

  const counts = new Map<string, number>();
  for (const e of events) {
    const key = `${e.eventType}|${e.deviceId}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const series = await store.listSeries({ devices: true, limit: 10_000_000 });
  for (const s of series) {
    expect(s.state.count, `series ${s.eventType}/${s.deviceId}`).toBe(
      counts.get(`${s.eventType}|${s.deviceId}`),
    );
  }
  expect(series.map((s) => `${s.eventType}|${s.deviceId}`).sort(), "series with per-device totals")
    .toEqual([...tracked].sort());
  for (const t of await store.listSeries({ devices: false, limit: 100_000 })) {
    const own = events.filter((e) => e.eventType === t.eventType).length;
    expect(t.state.count, `series ${t.eventType} (all devices)`).toBe(own);
  }
  return compared;
}

function compareBucket(key: string, got: Agg, x: Expected, allDevices: boolean): void {
  const valued = x.events.filter((e) => e.value !== null);
  const values = valued.map((e) => e.value!);
  expect(got.count, `${key} count`).toBe(x.events.length);
  expect(got.valueCount, `${key} valueCount`).toBe(values.length);
  expect(got.minTs, `${key} minTs`).toBe(Math.min(...x.events.map((e) => e.timestamp)));
  expect(got.maxTs, `${key} maxTs`).toBe(Math.max(...x.events.map((e) => e.timestamp)));
  if (values.length === 0) {
    expect(got.value("sum"), `${key} sum`).toBeNull();
  } else {
    const sum = values.reduce((a, b) => a + b, 0);
    expect(Math.abs(got.value("sum")! - sum), `${key} sum`).toBeLessThanOrEqual(
      1e-9 * Math.max(1, Math.abs(sum)) * values.length,
    );
    expect(got.value("min"), `${key} min`).toBe(Math.min(...values));
    expect(got.value("max"), `${key} max`).toBe(Math.max(...values));
    const last = [...valued].sort((a, b) => a.timestamp - b.timestamp || a.seq - b.seq).at(-1)!;
    expect(got.value("last"), `${key} last`).toBe(last.value);
    const sorted = [...values].sort((a, b) => a - b);
    for (const [name, q] of QUANTILES) {
      const exact = sorted[Math.floor(q * (sorted.length - 1))];
      expect(Math.abs(got.value(name)! - exact), `${key} ${name}`).toBeLessThanOrEqual(
        Math.abs(exact) * 0.01 + 1e-9,
      );
    }
  }
  if (allDevices) {
    expect(Math.abs(got.value("distinct")! - x.devices.size), `${key} distinct`).toBeLessThanOrEqual(
      Math.max(1, x.devices.size * 0.05),
    );
  }
}
