/**
 * Contract tests for `readRollupSlots`, the dense read of stored buckets that
 * metric queries fold without an object per bucket: slot positions across the
 * store's chunking, empty and unvalued buckets, the all-device series, cached
 * reads that follow later flushes, and arrays that belong to the caller. Run by
 * each store implementation next to `describeStoreContract`.
 */
import { describe, expect, it } from "vitest";
import { Agg } from "../stream/aggregate.ts";
import type { StoreHarness } from "./store-contract.ts";
import type { RollupSlots, Store } from "./store.ts";

const M = 60_000;
/** Midnight UTC, 2026-11-22: a multiple of a day, so of any chunk span of whole minutes. */
const DAY0 = Date.parse("2026-11-22T00:00:00.000Z");

function state(values: (number | null)[], ts: number) {
  const a = new Agg();
  values.forEach((v, i) => a.add(v, ts + i, ts + i));
  return a.toState();
}

/** The slots as plain arrays (NaN kept), field by field. */
function plain(s: RollupSlots) {
  return {
    deviceId: s.deviceId,
    count: Array.from(s.count),
    valueCount: Array.from(s.valueCount),
    sum: Array.from(s.sum),
    min: Array.from(s.min),
    max: Array.from(s.max),
    lastValue: Array.from(s.lastValue),
    lastTs: Array.from(s.lastTs),
    lastSeq: Array.from(s.lastSeq),
  };
}

export function describeRollupSlotsContract(name: string, harness: StoreHarness): void {
  describe(`Rollup slots: ${name}`, () => {
    async function withStore(fn: (s: Store) => Promise<void>) {
      const { store, cleanup } = await harness.open();
      try {
        await fn(store);
      } finally {
        await cleanup();
      }
    }
    const bucket = (deviceId: string | null, start: number, values: (number | null)[]) => ({
      eventType: "temperature",
      resolution: M,
      deviceId,
      start,
      state: state(values, start),
    });

    it("places each bucket in its slot, across a day boundary, with empty slots 0 and NaN", async () => {
      await withStore(async (store) => {
        const late = DAY0 + 86_400_000 - 2 * M; // 23:58, the day before the next chunk
        await store.applyRollupFlush({
          rollups: [
            bucket("dev-1", late, [2, 4]),
            bucket("dev-1", late + 3 * M, [10]), // 00:01 of the next day
            bucket("dev-1", late + 4 * M, [null]), // an event without a value
            bucket(null, late, [2, 4]),
            bucket("dev-2", late + M, [7]),
          ],
          series: [],
          checkpoint: 1,
        });
        const slots = await store.readRollupSlots({
          eventType: "temperature",
          resolution: M,
          deviceIds: ["dev-1", "dev-3", null],
          from: late - M,
          to: late + 5 * M + 1, // ends inside a slot: that slot is read
        });
        expect(slots.map(plain)).toEqual([
          {
            deviceId: "dev-1",
            count: [0, 2, 0, 0, 1, 1, 0],
            valueCount: [0, 2, 0, 0, 1, 0, 0],
            sum: [0, 6, 0, 0, 10, 0, 0],
            min: [NaN, 2, NaN, NaN, 10, NaN, NaN],
            max: [NaN, 4, NaN, NaN, 10, NaN, NaN],
            lastValue: [NaN, 4, NaN, NaN, 10, NaN, NaN],
            lastTs: [NaN, late + 1, NaN, NaN, late + 3 * M, NaN, NaN],
            lastSeq: [NaN, late + 1, NaN, NaN, late + 3 * M, NaN, NaN],
          },
          {
            deviceId: "dev-3",
            count: [0, 0, 0, 0, 0, 0, 0],
            valueCount: [0, 0, 0, 0, 0, 0, 0],
            sum: [0, 0, 0, 0, 0, 0, 0],
            min: Array(7).fill(NaN),
            max: Array(7).fill(NaN),
            lastValue: Array(7).fill(NaN),
            lastTs: Array(7).fill(NaN),
            lastSeq: Array(7).fill(NaN),
          },
          expect.objectContaining({
            deviceId: null,
            count: [0, 2, 0, 0, 0, 0, 0],
            sum: [0, 6, 0, 0, 0, 0, 0],
          }),
        ]);
      });
    });

    it("follows later flushes and hands out arrays the store no longer touches", async () => {
      await withStore(async (store) => {
        const start = DAY0 + 10 * M;
        const query = {
          eventType: "temperature",
          resolution: M,
          deviceIds: ["dev-1"],
          from: start,
          to: start + 2 * M,
        };
        await store.applyRollupFlush({ rollups: [bucket("dev-1", start, [1])], series: [], checkpoint: 1 });
        const [before] = await store.readRollupSlots(query); // also primes any cache
        before.count[1] = 99;
        await store.applyRollupFlush({
          rollups: [bucket("dev-1", start, [-3]), bucket("dev-1", start + M, [5])],
          series: [],
          checkpoint: 2,
        });
        const [after] = await store.readRollupSlots(query);
        expect(Array.from(before.count)).toEqual([1, 99]);
        expect(plain(after)).toMatchObject({ count: [2, 1], sum: [-2, 5], min: [-3, 5], max: [1, 5] });
      });
    });

    it("reads only the fields asked for, into blocks the caller allocates, overwriting every slot", async () => {
      await withStore(async (store) => {
        const start = DAY0 + 20 * M;
        await store.applyRollupFlush({
          rollups: [bucket("dev-1", start + M, [3, 5])],
          series: [],
          checkpoint: 1,
        });
        const sizes: number[] = [];
        const [slots] = await store.readRollupSlots({
          eventType: "temperature",
          resolution: M,
          deviceIds: ["dev-1"],
          from: start,
          to: start + 3 * M,
          fields: ["count", "sum", "max"],
          allocate: (length) => {
            sizes.push(length);
            return new Float64Array(length + 5).fill(-7); // larger, and not zeroed
          },
        });
        expect(sizes).toEqual([9]);
        expect(plain(slots)).toMatchObject({
          count: [0, 2, 0],
          sum: [0, 8, 0],
          max: [NaN, 5, NaN],
          valueCount: [],
          min: [],
          lastValue: [],
        });
      });
    });

    it("gives no slots for an empty range and refuses an unaligned start", async () => {
      await withStore(async (store) => {
        const query = { eventType: "temperature", resolution: M, deviceIds: ["dev-1"], from: DAY0, to: DAY0 };
        const [empty] = await store.readRollupSlots(query);
        expect(empty.count.length).toBe(0);
        await expect(store.readRollupSlots({ ...query, from: DAY0 + 1, to: DAY0 + M })).rejects.toThrow(
          RangeError,
        );
      });
    });
  });
}
