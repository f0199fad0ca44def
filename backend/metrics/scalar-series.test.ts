/**
 * The scalar path of metric queries (dense rollup slots) against the general
 * path (one aggregate object per bucket) on the same store: for every step,
 * window, fill and series selection both must give the same columns, flushed
 * or still in the engine.
 */
import { describe, expect, it } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";
import { bucketSeries, collectBuckets } from "./bucket-series.ts";
import { readScalarSeries } from "./scalar-series.ts";
import { SlotBlockPool } from "./slot-pool.ts";
import type { AggregateName } from "../stream/aggregate.ts";
import { floorTo, type MetricsColumnSeries, type MetricsQuery } from "./metrics-types.ts";

const T = Date.parse("2026-11-22T12:00:00.000Z");
const M = 60_000;
const H = 3_600_000;

/** 900 readings of 4 devices over 5 hours, some without a value, some sharing a millisecond. */
const EVENTS = Array.from({ length: 900 }, (_, i) => ({
  id: `e${i}`,
  deviceId: `dev-${(i * 7) % 4}`,
  eventType: "temp",
  value: i % 11 === 0 ? undefined : ((i * 7919) % 1000) / 7 - 40,
  timestamp: T + ((i * 104_729) % 450) * 40_009 - (i % 5 === 0 ? 0 : 1), // event i + 450: same ms
}));

const CASES: [string, Partial<MetricsQuery>][] = [
  ["1m, per device", { step: M, groupByDevice: true }],
  ["1m, all devices", { step: M }],
  ["1m, two devices merged, fill previous", { step: M, deviceIds: ["dev-1", "dev-3"], fill: "previous" }],
  ["7m from minutes, per device, fill zero", { step: 7 * M, groupByDevice: true, fill: "zero" }],
  ["5m with a 20m window, all devices", { step: 5 * M, window: 20 * M }],
  ["1m with a 3m window, one device", { step: M, window: 3 * M, deviceIds: ["dev-2"] }],
  ["1h from hours, per device", { step: H, groupByDevice: true }],
  ["2h from hours, unaligned range", { step: 2 * H, from: T + 1234, to: T + 5 * H - 1 }],
];

const plain = (series: MetricsColumnSeries[], names: readonly AggregateName[]) =>
  series.map((s) => ({
    deviceId: s.deviceId,
    values: Object.fromEntries(names.map((name) => [name, Array.from(s.column(name))])),
  }));

describe("scalar metric series", () => {
  it.each([true, false])(
    "equal the per-bucket series for every step, window and fill (flushed: %s)",
    async (flush) => {
      await withApp(async (f) => {
        const res = await f.request("/v1/events", { method: "POST", body: JSON.stringify(EVENTS) });
        expect(res.status).toBe(202);
        f.server.stream!.tick();
        if (flush) await f.server.stream!.flush();
        // Every case twice over one pool: the second pass reads into blocks the first gave back.
        const pool = new SlotBlockPool(64 * 2 ** 20);
        const deps = { store: f.server.store, reader: f.server.stream!, limits: f.config.metrics, pool };
        let compared = 0;
        for (const [, overrides] of [...CASES, ...CASES]) {
          const q: MetricsQuery = {
            eventType: "temp",
            deviceIds: [],
            metadata: [],
            from: T,
            to: T + 5 * H,
            step: M,
            aggregates: ["count", "sum", "avg", "min", "max", "last"],
            groupByDevice: false,
            fill: "null",
            limit: 100,
            ...overrides,
          };
          const devices = q.groupByDevice ? ["dev-0", "dev-1", "dev-2", "dev-3"] : q.deviceIds;
          const resolution = q.step % H === 0 ? H : M;
          const extra = (q.window ?? q.step) / q.step - 1;
          const first = floorTo(q.from, q.step);
          const points = Math.ceil((q.to - first) / q.step);
          const from = first - extra * q.step;
          const read = await readScalarSeries(deps, { query: q, devices, resolution, from, points, extra });
          const scalar = read.series;
          const collected = await collectBuckets(deps, {
            query: q,
            source: resolution,
            devices,
            from,
            to: q.to,
          });
          const general = bucketSeries(collected, { query: q, devices, points, extra });
          expect(plain(scalar, q.aggregates)).toEqual(plain(general, q.aggregates));
          compared += scalar.reduce((n, s) => n + s.column("count").filter((c) => c > 0).length, 0);
          const held = pool.bytes;
          read.release();
          const after = pool.bytes;
          expect(after).toBeGreaterThan(held);
          read.release(); // a second call gives nothing back twice
          expect(pool.bytes).toBe(after);
        }
        expect(compared).toBeGreaterThan(2000);
        // Every event is counted once in the per-device minutes.
        const q: MetricsQuery = {
          eventType: "temp",
          deviceIds: [],
          metadata: [],
          from: T - H,
          to: T + 6 * H,
          step: M,
          aggregates: ["count"],
          groupByDevice: false,
          fill: "null",
          limit: 100,
        };
        const { series: [all] } = await readScalarSeries(deps, {
          query: q,
          devices: [],
          resolution: M,
          from: q.from,
          points: 420,
          extra: 0,
        });
        expect(all.column("count").reduce((n, c) => n + (Number.isNaN(c) ? 0 : c), 0)).toBe(EVENTS.length);
      }, { clock: new FakeClock(T + 6 * H) });
    },
  );
});
