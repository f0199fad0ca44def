/**
 * Raw events the rollups still need are never lost: retention keeps their day (review High 1),
 * a replay fails when the range's events are gone, and a range that covers an `event` dead letter
 * leaves that seq to its own letter (review High 2). Faults are injected at the driver.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { type PulseStream } from "../server.ts";
import { expectRollupsMatchEvents } from "../testing/rollup-check.ts";
import { repairUndecodableRow, writeUndecodableRow } from "../testing/store-faults.ts";
import { openFaultyServer, postEvents as post } from "../testing/faulty-server.ts";
import { FakeClock, withTempDir } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const DAY = 86_400_000;
const RESOLUTIONS = [60_000, 3_600_000];

const open = (dir: string, clock: FakeClock) =>
  openFaultyServer(dir, clock, {
    file: "guard.db",
    env: { ROLLUP_FLUSH_MAX_ATTEMPTS: "2", RETENTION_RAW_DAYS: "7" },
    preference: "libsql",
  });

const batch = (prefix: string, n: number, ts: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    deviceId: `dev-${i % 3}`,
    eventType: "power",
    value: i,
    timestamp: ts + i * 1000,
  }));

const total = async (server: PulseStream) =>
  (await server.store.listSeries({ devices: false, limit: 5 })).reduce((n, s) => n + s.state.count, 0);

describe("Retention and the rollups' raw events", () => {
  it("keeps a past-retention day that a pending rollup-flush letter covers; replay then folds it", async () => {
    await withTempDir(async (dir) => {
      const clock = new FakeClock(NOW);
      const { server, faults } = await open(dir, clock);
      try {
        expect((await post(server, batch("old", 10, NOW - 7 * DAY + 3_600_000))).status).toBe(202);
        faults.failing = true;
        await server.stream!.flush();
        await server.stream!.flush();
        const [letter] = await server.deadLetters.list({ kind: "rollup-flush", limit: 5 });
        expect(letter.payload).toEqual({ fromSeq: 0, toSeq: 10, buckets: expect.any(Number), events: 10 });
        expect(await server.store.rollupCheckpoint()).toBe(10);
        faults.failing = false;
        clock.advance(DAY);
        const run = await server.retention.runOnce();
        expect(run.dropped).toEqual([]);
        expect(run.blocked).toEqual([{
          day: "2026-11-15",
          reason: `pending dead letter ${letter.id} covers some of its events`,
        }]);
        expect((await server.store.eventsAfter(0, 100)).length).toBe(10);
        expect(await server.deadLetters.replay(letter.id)).toEqual({ id: letter.id, outcome: "replayed" });
        expect(await total(server)).toBe(10);
        await expectRollupsMatchEvents(server.store, RESOLUTIONS);
        // Settled: the day goes now.
        expect((await server.retention.runOnce()).dropped.map((d) => [d.day, d.rows])).toEqual([[
          "2026-11-15",
          10,
        ]]);
      } finally {
        await server.close();
      }
    });
  });

  it("keeps a day holding events above the durable checkpoint until a flush passes them", async () => {
    await withTempDir(async (dir) => {
      const clock = new FakeClock(NOW);
      const { server } = await open(dir, clock);
      try {
        await post(server, batch("old", 10, NOW - 7 * DAY + 3_600_000));
        clock.advance(DAY);
        const run = await server.retention.runOnce();
        expect(run.dropped).toEqual([]);
        expect(run.blocked).toEqual([{
          day: "2026-11-15",
          reason: "holds seqs up to 10, above the rollup checkpoint 0",
        }]);
        await server.stream!.flush();
        expect(await total(server)).toBe(10);
        expect((await server.retention.runOnce()).dropped.map((d) => d.day)).toEqual(["2026-11-15"]);
      } finally {
        await server.close();
      }
    });
  });

  it("drops a day only once it ended more than the drop margin before now − raw retention", async () => {
    await withTempDir(async (dir) => {
      const clock = new FakeClock(NOW);
      const { server } = await open(dir, clock);
      try {
        await post(server, batch("old", 10, NOW - 7 * DAY + 3_600_000));
        await server.stream!.flush();
        const margin = server.retention.options.dropMarginMs!;
        expect(margin).toBeGreaterThanOrEqual(60_000 + 1);
        // The day ends at 2026-11-16T00:00: one ms inside the margin it stays, at the margin it goes.
        const end = Date.parse("2026-11-16T00:00:00.000Z");
        clock.current = end + 7 * DAY + margin - 1;
        expect((await server.retention.runOnce()).dropped).toEqual([]);
        clock.current = end + 7 * DAY + margin;
        expect((await server.retention.runOnce()).dropped.map((d) => d.day)).toEqual(["2026-11-15"]);
      } finally {
        await server.close();
      }
    });
  });

  it("fails a replay whose range's events are gone instead of settling it", async () => {
    await withTempDir(async (dir) => {
      const clock = new FakeClock(NOW);
      const { server, faults } = await open(dir, clock);
      try {
        await post(server, batch("old", 10, NOW - 7 * DAY + 3_600_000));
        faults.failing = true;
        await server.stream!.flush();
        await server.stream!.flush();
        faults.failing = false;
        const [letter] = await server.deadLetters.list({ kind: "rollup-flush", limit: 5 });
        // Dropped behind retention's back (what an unguarded drop did).
        await server.store.storage.dropEventPartition(NOW - 7 * DAY);
        const outcome = await server.deadLetters.replay(letter.id);
        expect(outcome).toMatchObject({ id: letter.id, outcome: "failed" });
        const after = await server.deadLetters.get(letter.id);
        expect(after!.replayedAt).toBeNull();
        expect(after!.reason).toBe("only 0 of the 10 events of seqs 1..10 are still stored (dropped?)");
      } finally {
        await server.close();
      }
    });
  });

  it("replays a range covering an event letter without that seq; the event letter folds it once", async () => {
    await withTempDir(async (dir) => {
      const clock = new FakeClock(NOW);
      const first = await open(dir, clock);
      await post(first.server, batch("a", 10, NOW - 3_600_000));
      await first.server.close();
      const raw = await openSqlDriver(`file:${join(dir, "guard.db")}`, {
        cacheMb: 8,
        walAutocheckpointPages: 1000,
        synchronous: "normal",
        preference: "libsql",
      });
      const row = { id: "odd", seq: 11, ts: NOW - 1000 };
      await writeUndecodableRow(raw, row);
      await raw.close();
      const second = await open(dir, clock);
      try {
        const [odd] = await second.server.deadLetters.list({ kind: "event", limit: 5 });
        expect(odd.payload).toMatchObject({ seq: 11 });
        // The flush that would pass seq 11 (and 5 new events) keeps failing: parked from the stored checkpoint 10.
        second.faults.failing = true;
        await post(second.server, batch("b", 5, NOW - 600_000));
        await second.server.stream!.flush();
        await second.server.stream!.flush();
        second.faults.failing = false;
        const [range] = await second.server.deadLetters.list({ kind: "rollup-flush", limit: 5 });
        expect(range.payload).toMatchObject({ fromSeq: 10, toSeq: 16, events: 5 });
        expect(await second.server.deadLetters.replay(range.id)).toEqual({
          id: range.id,
          outcome: "replayed",
        });
        expect(await total(second.server)).toBe(15);
        await repairUndecodableRow(second.driver, row);
        expect(await second.server.deadLetters.replay(odd.id)).toEqual({ id: odd.id, outcome: "replayed" });
        expect(await total(second.server)).toBe(16);
        await expectRollupsMatchEvents(second.server.store, RESOLUTIONS);
      } finally {
        await second.server.close();
      }
    });
  });
});
