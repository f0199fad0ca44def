/**
 * Contract tests of `StorageLifecycle` and `DeadLetterStore` (storage-store.ts),
 * run by each SQLite driver (see sqlite-store.test.ts).
 */
import { describe, expect, it } from "vitest";
import { Agg } from "../stream/aggregate.ts";
import { MIDNIGHT } from "./partition-contract.ts";
import { event, type StoreHarness } from "./store-contract.ts";
import type { Store } from "./store.ts";

const DAY = 86_400_000;

function state(n: number, ts: number) {
  const a = new Agg();
  for (let i = 0; i < n; i++) a.add(i, ts + i, ts + i);
  return a.toState();
}

/** `n` chars of base64 of a fixed pseudo-random sequence (deflate keeps about 3/4 of them). */
export function noise(n: number, seed = 1): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  let x = seed;
  let out = "";
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    out += alphabet[x >>> 26];
  }
  return out;
}

export function describeStorageContract(name: string, harness: StoreHarness): void {
  describe(`Storage lifecycle and dead letters: ${name}`, () => {
    async function withStore(fn: (s: Store, reopen: () => Promise<Store>) => Promise<void>) {
      const { store, reopen, cleanup } = await harness.open();
      try {
        await fn(store, reopen);
      } finally {
        await cleanup();
      }
    }

    it("drops a day: its events and ids are gone, the others untouched, seqs never reused", async () => {
      await withStore(async (store, reopen) => {
        // Noise: payloads this large are compressed, and these must still take 2,000+ bytes each.
        const payload = { text: noise(3000) };
        const day0 = Array.from(
          { length: 300 },
          (_, i) => event(`d0-${i}`, { timestamp: MIDNIGHT + i, data: payload }),
        );
        await store.commitEvents(day0.slice(0, 150));
        await store.commitEvents([
          event("d1-0", { timestamp: MIDNIGHT + DAY }),
          event("d1-1", { timestamp: MIDNIGHT + DAY + 9 }),
        ]);
        // The newest seqs are in the day that will be dropped.
        const last = await store.commitEvents(day0.slice(150));
        const topSeq = last.firstSeq + 149;
        expect((await store.storage.eventPartitions()).map((p) => p.day)).toEqual([
          "2026-11-22",
          "2026-11-23",
        ]);
        const before = await store.storage.layout();
        expect(before.partitions.map((p) => [p.day, p.rows, p.oldest, p.newest])).toEqual([
          ["2026-11-22", 300, MIDNIGHT, MIDNIGHT + 299],
          ["2026-11-23", 2, MIDNIGHT + DAY, MIDNIGHT + DAY + 9],
        ]);
        expect(before.eventIds.rows).toBe(302);
        expect(before.partitions[0].bytes).toBeGreaterThan(300 * 2000);

        expect(await store.storage.dropEventPartition(MIDNIGHT + 5, { chunkRows: 7 })).toEqual({ rows: 300 });
        expect(await store.storage.dropEventPartition(MIDNIGHT)).toEqual({ rows: 0 });
        expect((await store.storage.eventPartitions()).map((p) => p.day)).toEqual(["2026-11-23"]);
        expect((await store.listEvents({ limit: 500 })).map((e) => e.id)).toEqual(["d1-1", "d1-0"]);
        expect(await store.getEvent("d0-3")).toBeNull();
        expect((await store.eventsAfter(0, 500)).length).toBe(2);
        expect(await store.findExistingEventIds(["d0-0", "d0-299", "d1-0"])).toEqual(new Set(["d1-0"]));
        expect((await store.stats()).events).toBe(2);
        const after = await store.storage.layout();
        expect(after.eventIds.rows).toBe(2);
        expect(after.file.autoVacuum).toBe("incremental");
        expect(after.file.freeBytes).toBeGreaterThan(300 * 2000);
        // Space goes back to the file system.
        expect(await store.storage.reclaimSpace({ maxPages: 16 })).toBe(
          after.file.freeBytes / after.file.pageSize,
        );
        const reclaimed = await store.storage.layout();
        expect(reclaimed.file.freeBytes).toBe(0);
        expect(reclaimed.file.bytes).toBeLessThan(after.file.bytes - 300 * 2000);
        // A dropped day's id can be stored again; seqs continue above the dropped ones, also after reopening.
        const again = await store.commitEvents([event("d0-0", { timestamp: MIDNIGHT + DAY + 1 })]);
        expect(again).toEqual({ outcomes: ["accepted"], firstSeq: topSeq + 1 });
        await store.storage.dropEventPartition(MIDNIGHT + DAY);
        await store.close();
        const reopened = await reopen();
        try {
          expect((await reopened.commitEvents([event("x", { timestamp: MIDNIGHT + 3 * DAY })])).firstSeq)
            .toBe(topSeq + 2);
          expect((await reopened.storage.layout()).partitions.map((p) => [p.day, p.rows])).toEqual([[
            "2026-11-25",
            1,
          ]]);
        } finally {
          await reopened.close();
        }
      });
    });

    it("expires rollup buckets of one resolution before a time, leaving the rest", async () => {
      await withStore(async (store) => {
        const bucket = (resolution: number, start: number, deviceId: string | null) => ({
          resolution,
          eventType: "temperature",
          deviceId,
          start,
          state: state(2, start),
        });
        await store.applyRollupFlush({
          rollups: [
            bucket(60_000, MIDNIGHT, "dev-1"),
            bucket(60_000, MIDNIGHT + 60_000, "dev-1"),
            bucket(60_000, MIDNIGHT, null),
            bucket(60_000, MIDNIGHT + 120_000, null),
            bucket(3_600_000, MIDNIGHT, "dev-1"),
            bucket(3_600_000, MIDNIGHT, null),
          ],
          series: [{ eventType: "temperature", deviceId: "dev-1", state: state(2, MIDNIGHT) }],
          checkpoint: 3,
        });
        expect(
          await store.readRollupColumns({
            eventType: "temperature",
            resolution: 60_000,
            deviceIds: ["dev-1", null],
            from: MIDNIGHT,
            to: MIDNIGHT + DAY,
          }).then((cols) => cols.map((c) => Array.from(c.start))),
        ).toEqual([
          [MIDNIGHT, MIDNIGHT + 60_000],
          [MIDNIGHT, MIDNIGHT + 120_000],
        ]);
        expect(await store.storage.expireRollups(60_000, MIDNIGHT + 60_000)).toBe(2);
        const cols = await store.readRollupColumns({
          eventType: "temperature",
          resolution: 60_000,
          deviceIds: ["dev-1", null],
          from: MIDNIGHT,
          to: MIDNIGHT + DAY,
        });
        expect(cols.map((c) => Array.from(c.start))).toEqual([[MIDNIGHT + 60_000], [MIDNIGHT + 120_000]]);
        const layout = await store.storage.layout();
        expect(layout.rollups.map(({ bytes: _, ...tier }) => tier)).toEqual([
          { resolution: 60_000, rows: 2, oldest: MIDNIGHT + 60_000, newest: MIDNIGHT + 120_000 },
          { resolution: 3_600_000, rows: 2, oldest: MIDNIGHT, newest: MIDNIGHT },
        ]);
        // Two rows of the same names and sketch sizes each: the table's bytes shared out equally.
        const [minute, hour] = layout.rollups.map((t) => t.bytes);
        expect(minute).toBe(hour);
        expect(minute + hour).toBeLessThanOrEqual(layout.rollupBytes);
        if (layout.rollupBytes > 0) expect(minute).toBeGreaterThan(0);
      });
    });

    it("keeps dead letters: add, list by kind with a position, replay marks, failures, purge, counts", async () => {
      await withStore(async (store, reopen) => {
        const dl = store.deadLetters;
        const a = await dl.add({
          kind: "notification",
          payload: { to: "ops" },
          reason: "timeout",
          attempts: 5,
          at: 10,
        });
        const b = await dl.add({
          kind: "event",
          payload: { seq: 4 },
          reason: "bad row",
          attempts: 1,
          at: 11,
        });
        const c = await dl.add({
          kind: "notification",
          payload: { to: "dev" },
          reason: "500",
          attempts: 3,
          at: 12,
        });
        expect([a.id, b.id, c.id]).toEqual([a.id, a.id + 1, a.id + 2]);
        expect((await dl.list({ limit: 10 })).map((d) => d.id)).toEqual([c.id, b.id, a.id]);
        expect((await dl.list({ kind: "notification", limit: 1 })).map((d) => d.id)).toEqual([c.id]);
        expect((await dl.list({ kind: "notification", beforeId: c.id, limit: 5 })).map((d) => d.id)).toEqual([
          a.id,
        ]);
        expect((await dl.list({ order: "asc", limit: 2 })).map((d) => d.id)).toEqual([a.id, b.id]);
        expect((await dl.list({ order: "asc", afterId: a.id, limit: 5 })).map((d) => d.id)).toEqual([
          b.id,
          c.id,
        ]);
        expect(await dl.get(a.id)).toEqual({
          id: a.id,
          kind: "notification",
          payload: { to: "ops" },
          reason: "timeout",
          attempts: 5,
          autoReplays: 0,
          firstFailedAt: 10,
          lastFailedAt: 10,
          replayedAt: null,
        });
        await dl.recordFailure(a.id, "still down", 20);
        expect(await dl.get(a.id)).toMatchObject({ attempts: 6, reason: "still down", lastFailedAt: 20 });
        await dl.recordFailure(a.id, "down again", 21, { automatic: true });
        expect(await dl.get(a.id)).toMatchObject({ attempts: 7, autoReplays: 1, lastFailedAt: 21 });
        expect(await dl.markReplayed(a.id, 30)).toBe(true);
        expect(await dl.markReplayed(a.id, 31)).toBe(false);
        expect((await dl.get(a.id))?.replayedAt).toBe(30);
        expect((await dl.list({ pending: true, limit: 10 })).map((d) => d.id)).toEqual([c.id, b.id]);
        expect(await dl.counts()).toEqual([
          { kind: "event", pending: 1, replayed: 0 },
          { kind: "notification", pending: 1, replayed: 1 },
        ]);
        // Parking rollup work advances the checkpoint with the item; a flush that settles it marks it.
        const parked = await dl.parkRollupRange(
          { kind: "rollup-flush", payload: { fromSeq: 0, toSeq: 8 }, reason: "disk", attempts: 3, at: 40 },
          8,
        );
        expect(await store.rollupCheckpoint()).toBe(8);
        await store.applyRollupFlush({
          rollups: [{
            resolution: 60_000,
            eventType: "t",
            deviceId: null,
            start: MIDNIGHT,
            state: state(1, MIDNIGHT),
          }],
          series: [],
          checkpoint: 2, // a replay never moves the checkpoint back
          settlesDeadLetter: { id: parked.id, at: 50 },
        });
        expect(await store.rollupCheckpoint()).toBe(8);
        expect((await dl.get(parked.id))?.replayedAt).toBe(50);
        // Settling it again fails the whole flush: its merge is not applied twice.
        await expect(store.applyRollupFlush({
          rollups: [{
            resolution: 60_000,
            eventType: "t",
            deviceId: null,
            start: MIDNIGHT,
            state: state(1, MIDNIGHT),
          }],
          series: [],
          checkpoint: 2,
          settlesDeadLetter: { id: parked.id, at: 60 },
        })).rejects.toThrow();
        const bucket = await store.storage.scanRollups({
          resolution: 60_000,
          from: MIDNIGHT,
          to: MIDNIGHT + 1,
          limit: 5,
        });
        expect(bucket.map((r) => r.state.count)).toEqual([1]);
        expect((await dl.get(parked.id))?.replayedAt).toBe(50);
        expect(await dl.purge({ replayedOnly: true })).toBe(2);
        await store.close();
        const again = await reopen();
        try {
          expect((await again.deadLetters.list({ limit: 10 })).map((d) => d.id)).toEqual([c.id, b.id]);
          const d = await again.deadLetters.add({
            kind: "x",
            payload: null,
            reason: "r",
            attempts: 1,
            at: 1,
          });
          expect(d.id).toBe(parked.id + 1);
          expect(await again.deadLetters.purge({ kind: "notification" })).toBe(1);
          expect(await again.deadLetters.purge({})).toBe(2);
          expect(await again.deadLetters.counts()).toEqual([]);
        } finally {
          await again.close();
        }
      });
    });
  });
}
