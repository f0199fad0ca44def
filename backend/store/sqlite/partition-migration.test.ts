import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../../adapters/sqlite/open-driver.ts";
import { migrateBefore, OLD_SCHEMA_TUNING as tuning } from "../../testing/old-schema.ts";
import { createSqliteStore } from "./sqlite-store.ts";
import { event } from "../store-contract.ts";

const DAY = 86_400_000;
const T = Date.parse("2026-11-20T00:00:00.000Z");

describe("Migration 7 (day partitions)", () => {
  it("moves a database of the single-table layout into day partitions, keeping ids, seqs and dedup", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-migrate-"));
    const url = `file:${join(dir, "old.db")}`;
    try {
      // The layout of migrations 1–6, written the way that code wrote it.
      const old = await openSqlDriver(url, tuning);
      await migrateBefore(old, 7);
      const rows = [
        [3, "a", T + 5], // day 0
        [7, "b", T + DAY - 1], // day 0, last ms
        [8, "c", T + DAY], // day 1
        [12, "d", T + 3 * DAY + 7], // day 3
      ] as const;
      await old.writeBatch(rows.map(([seq, id, ts]) => ({
        sql:
          `INSERT INTO events (seq, id, device_id, event_type, value, ts, received_at, partition, metadata, data)
              VALUES (?, ?, 'dev-1', 'temperature', 1.5, ?, ?, 3, '{"k":"v"}', '{"n":1}')`,
        args: [seq, id, ts, ts + 5],
      })));
      await old.close();

      const store = await createSqliteStore({ driver: await openSqlDriver(url, tuning) });
      try {
        const listed = await store.listEvents({ limit: 10 });
        expect(listed.map((e) => [e.seq, e.id, e.timestamp])).toEqual(
          [...rows].reverse().map(([seq, id, ts]) => [seq, id, ts]),
        );
        expect(listed[0]).toEqual({
          seq: 12,
          id: "d",
          deviceId: "dev-1",
          eventType: "temperature",
          value: 1.5,
          timestamp: T + 3 * DAY + 7,
          receivedAt: T + 3 * DAY + 12,
          partition: 3,
          metadata: { k: "v" },
          data: { n: 1 },
        });
        expect((await store.eventsAfter(3, 10)).map((p) => p.seq)).toEqual([7, 8, 12]);
        // Old ids still dedup, and seqs continue after the highest one of the old table.
        const result = await store.commitEvents([event("b", { timestamp: T + 2 * DAY }), event("e")]);
        expect(result).toEqual({ outcomes: ["duplicate", "accepted"], firstSeq: 13 });
        expect((await store.stats()).events).toBe(5);
        expect((await store.getEvent("c"))?.seq).toBe(8);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
