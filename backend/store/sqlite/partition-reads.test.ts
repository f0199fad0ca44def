/**
 * Reads over day partitions touch only the partitions their time or seq range meets, and inside
 * each one SQLite searches an index (or the rowid) instead of scanning the table: every statement
 * a read sends is recorded at the driver and its plan asked of SQLite (`EXPLAIN QUERY PLAN`).
 * Issue 8: "the query planner touches only the partitions in range".
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type DriverPreference, openSqlDriver } from "../../adapters/sqlite/open-driver.ts";
import { zlibPayloadCodec } from "../../adapters/sqlite/zlib-payload-codec.ts";
import { hasNodeSqlite } from "../../testing/sqlite-harness.ts";
import { MIDNIGHT } from "../partition-contract.ts";
import { event } from "../store-contract.ts";
import type { Store } from "../store.ts";
import type { SqlDriver, SqlValue } from "./sql-driver.ts";
import { createSqliteStore } from "./sqlite-store.ts";

const DAY = 86_400_000;
const HOUR = 3_600_000;
const drivers: DriverPreference[] = ["libsql", ...(hasNodeSqlite ? ["node-sqlite" as const] : [])];
/** Five days, 2026-11-22 … 2026-11-26, three events each (at 01:00, 12:00, 23:00), one commit a day. */
const DAYS = ["20261122", "20261123", "20261124", "20261125", "20261126"];
const HOURS = [1, 12, 23];

interface Recorded {
  sql: string;
  args: SqlValue[];
}

/** `driver` recording every read it is asked for while `recording.on`. */
function recordingDriver(driver: SqlDriver) {
  const recording = { on: false, reads: [] as Recorded[] };
  const wrapped: SqlDriver = {
    name: driver.name,
    local: driver.local,
    exec: (sql) => driver.exec(sql),
    all(sql, args = []) {
      if (recording.on) recording.reads.push({ sql, args });
      return driver.all(sql, args);
    },
    writeBatch: (statements) => driver.writeBatch(statements),
    close: () => driver.close(),
  };
  return { wrapped, recording };
}

const partitionsIn = (sql: string) => [...sql.matchAll(/\bevents_(\d{8})\b/g)].map((m) => m[1]);

describe.each(drivers)("Reads over day partitions (%s)", (preference) => {
  async function withDays(
    fn: (
      store: Store,
      read: <T>(run: () => Promise<T>) => Promise<{ result: T; plans: string[][] }>,
    ) => Promise<
      void
    >,
  ) {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-reads-"));
    const driver = await openSqlDriver(`file:${join(dir, "store.db")}`, {
      cacheMb: 16,
      walAutocheckpointPages: 1000,
      synchronous: "normal",
      preference,
    });
    const { wrapped, recording } = recordingDriver(driver);
    const store = await createSqliteStore({ driver: wrapped, payloadCodec: zlibPayloadCodec });
    try {
      for (let d = 0; d < DAYS.length; d++) {
        const { outcomes } = await store.commitEvents(HOURS.map((h, i) =>
          event(`d${d}-${i}`, {
            timestamp: MIDNIGHT + d * DAY + h * HOUR,
            receivedAt: MIDNIGHT + d * DAY + h * HOUR + 3,
            deviceId: i === 1 ? "dev-b" : "dev-a",
          })
        ));
        expect(outcomes).toEqual(["accepted", "accepted", "accepted"]);
      }
      /**
       * Runs `run` and returns its result and, per statement it sent, the partitions the statement
       * names (in order), checking that SQLite's plan for each of them is a search, not a scan.
       */
      const read = async <T>(run: () => Promise<T>) => {
        recording.reads = [];
        recording.on = true;
        const result = await run().finally(() => (recording.on = false));
        const plans: string[][] = [];
        for (const r of recording.reads) {
          const named = partitionsIn(r.sql);
          if (named.length === 0) continue;
          plans.push(named);
          const plan = await driver.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${r.sql}`, r.args);
          const steps = plan.map((p) => p.detail).filter((d) => /\bevents_\d{8}\b/.test(d));
          expect(steps.length, r.sql).toBe(named.length);
          for (const step of steps) expect(step, r.sql).toMatch(/^SEARCH events_\d{8} USING /);
        }
        return { result, plans };
      };
      await fn(store, read);
    } finally {
      await store.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("lists a range from its partitions only, newest or oldest first, stopping when the page is full", async () => {
    await withDays(async (store, read) => {
      // [day 1 12:00, day 3 01:00]: the newest first reads days 3, 2, 1.
      const desc = await read(() =>
        store.listEvents({ from: MIDNIGHT + DAY + 12 * HOUR, to: MIDNIGHT + 3 * DAY + HOUR + 1, limit: 100 })
      );
      expect(desc.result.map((e) => e.id)).toEqual(["d3-0", "d2-2", "d2-1", "d2-0", "d1-2", "d1-1"]);
      expect(desc.plans).toEqual([[DAYS[3]], [DAYS[2]], [DAYS[1]]]);
      // Oldest first from day 1 with a page of 2: day 1 fills it, no later day is read.
      const asc = await read(() =>
        store.listEvents({ from: MIDNIGHT + DAY, to: MIDNIGHT + 5 * DAY, limit: 2, order: "asc" })
      );
      expect(asc.result.map((e) => e.id)).toEqual(["d1-0", "d1-1"]);
      expect(asc.plans).toEqual([[DAYS[1]]]);
      // The keyset cursor of the next page starts in day 1 and continues into day 2.
      const last = asc.result[1];
      const next = await read(() =>
        store.listEvents({
          from: MIDNIGHT + DAY,
          to: MIDNIGHT + 5 * DAY,
          limit: 2,
          order: "asc",
          after: { timestamp: last.timestamp, seq: last.seq },
        })
      );
      expect(next.result.map((e) => e.id)).toEqual(["d1-2", "d2-0"]);
      expect(next.plans).toEqual([[DAYS[1]], [DAYS[2]]]);
      // A device filter over one day searches its (device, time) index of that day only.
      const device = await read(() =>
        store.listEvents({ deviceId: "dev-b", from: MIDNIGHT + 4 * DAY, to: MIDNIGHT + 5 * DAY, limit: 10 })
      );
      expect(device.result.map((e) => e.id)).toEqual(["d4-1"]);
      expect(device.plans).toEqual([[DAYS[4]]]);
      // A range between two partitions' events still reads only the day it meets.
      const empty = await read(() =>
        store.listEvents({
          from: MIDNIGHT + 2 * DAY + 13 * HOUR,
          to: MIDNIGHT + 2 * DAY + 22 * HOUR,
          limit: 10,
        })
      );
      expect(empty.result).toEqual([]);
      expect(empty.plans).toEqual([[DAYS[2]]]);
    });
  });

  it("scans points, replays by seq and resumes from a time over the partitions in range only", async () => {
    await withDays(async (store, read) => {
      // [day 2, day 3): `to` at midnight leaves day 3 unread.
      const scan = await read(() =>
        store.scanEventPoints({
          eventType: "temperature",
          from: MIDNIGHT + 2 * DAY,
          to: MIDNIGHT + 3 * DAY,
          limit: 10,
        })
      );
      expect(scan.result.map((p) => p.timestamp).sort((a, b) => a - b)).toEqual(
        HOURS.map((h) => MIDNIGHT + 2 * DAY + h * HOUR),
      );
      expect(scan.plans).toEqual([[DAYS[2]]]);
      // Seqs above day 2's highest: days 3 and 4, in one statement.
      const all = await store.eventsAfter(0, 100);
      const afterDay2 = all[8].seq;
      const replay = await read(() => store.eventsAfter(afterDay2, 100));
      expect(replay.result.map((p) => p.seq)).toEqual(all.slice(9).map((p) => p.seq));
      expect(replay.plans).toEqual([[DAYS[3], DAYS[4]]]);
      const full = await read(() => store.readEventsAfter(all[13].seq, 100));
      expect(full.result.map((e) => e.id)).toEqual(["d4-2"]);
      expect(full.plans).toEqual([[DAYS[4]]]);
      // Since day 3 at 12:00: days 3 and 4.
      const since = await read(() => store.eventPointsSince(MIDNIGHT + 3 * DAY + 12 * HOUR, 100));
      expect(since.result.map((p) => p.timestamp)).toEqual([
        MIDNIGHT + 3 * DAY + 12 * HOUR,
        MIDNIGHT + 3 * DAY + 23 * HOUR,
        ...HOURS.map((h) => MIDNIGHT + 4 * DAY + h * HOUR),
      ]);
      expect(since.plans).toEqual([[DAYS[3], DAYS[4]]]);
      // One event by id: its day's row by rowid, after the id table.
      const one = await read(() => store.getEvent("d2-1"));
      expect(one.result?.timestamp).toBe(MIDNIGHT + 2 * DAY + 12 * HOUR);
      expect(one.plans).toEqual([[DAYS[2]]]);
    });
  });
});
