import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../../adapters/sqlite/open-driver.ts";
import { zlibPayloadCodec } from "../../adapters/sqlite/zlib-payload-codec.ts";
import type { StoredEvent } from "../../../shared/event.ts";
import { event } from "../store-contract.ts";
import { migrateBefore, OLD_SCHEMA_TUNING as tuning } from "../../testing/old-schema.ts";
import { V7_EVENT_FIELDS, v7PartitionDdl } from "./partition-migration.ts";
import { createSqliteStore } from "./sqlite-store.ts";

const DAY = 86_400_000;
const T = Date.parse("2026-11-20T00:00:00.000Z");
const UUID = "0190b2c4-1234-7abc-8def-0123456789ab";

/** An event as migration 7's partitions held it. */
function v7Row(seq: number, e: Omit<StoredEvent, "seq">, table: string) {
  return {
    sql: `INSERT INTO ${table} (${V7_EVENT_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    args: [
      seq,
      e.id,
      e.deviceId,
      e.eventType,
      e.value,
      e.timestamp,
      e.receivedAt,
      e.partition,
      e.metadata ? JSON.stringify(e.metadata) : null,
      e.data ? JSON.stringify(e.data) : null,
    ],
  };
}

describe("Migration 14 (compact rows)", () => {
  it("converts every partition of migration 7's layout, keeping every field, id, seq and dedup", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-migrate14-"));
    const url = `file:${join(dir, "old.db")}`;
    try {
      const old = await openSqlDriver(url, tuning);
      await migrateBefore(old, 14);
      const events: StoredEvent[] = [
        { ...event(UUID, { timestamp: T + 5, metadata: { site: "a", n: 2 } }), seq: 3 },
        {
          ...event(UUID.toUpperCase(), { timestamp: T + DAY - 1, deviceId: "42", data: { x: [1] } }),
          seq: 7,
        },
        { ...event("plain", { timestamp: T + DAY, value: null, metadata: { site: "a", n: 2 } }), seq: 8 },
        {
          ...event("late", { timestamp: T + 3 * DAY + 7, receivedAt: T + 5 * DAY, eventType: "hum" }),
          seq: 12,
        },
      ];
      const day = (e: StoredEvent) => Math.floor(e.timestamp / DAY);
      const tables = new Map(
        events.map((
          e,
        ) => [day(e), `events_${new Date(day(e) * DAY).toISOString().slice(0, 10).replaceAll("-", "")}`]),
      );
      await old.writeBatch([
        ...[...tables.keys()].flatMap((d) => v7PartitionDdl(d).map((sql) => ({ sql, args: [] }))),
        ...events.map((e) => v7Row(e.seq, e, tables.get(day(e))!)),
        ...events.map((e) => ({
          sql: "INSERT INTO event_ids (id, day, seq) VALUES (?, ?, ?)",
          args: [e.id, day(e), e.seq],
        })),
        // A drop a crash interrupted after its rename: its rows and ids go, its seqs stay used.
        ...v7PartitionDdl(day(events[0]) - 1).map((sql) => ({ sql, args: [] })),
        { sql: "ALTER TABLE events_20261119 RENAME TO retired_events_20261119", args: [] },
        v7Row(20, event("gone", { timestamp: T - 10 }), "retired_events_20261119"),
        { sql: "INSERT INTO event_ids (id, day, seq) VALUES ('gone', ?, 20)", args: [day(events[0]) - 1] },
      ]);
      await old.close();

      const driver = await openSqlDriver(url, tuning);
      const store = await createSqliteStore({ driver, payloadCodec: zlibPayloadCodec });
      try {
        expect(await store.listEvents({ order: "asc", limit: 10 })).toEqual(events);
        for (const e of events) expect(await store.getEvent(e.id)).toEqual(e);
        expect((await store.eventsAfter(3, 10)).map((p) => p.seq)).toEqual([7, 8, 12]);
        expect((await store.listEvents({ deviceId: "42", limit: 5 })).map((e) => e.id)).toEqual([
          events[1].id,
        ]);
        expect(
          (await store.scanEventPoints({
            eventType: "temperature",
            metadata: [["n", "2"]],
            from: 0,
            to: 1e15,
            limit: 5,
          }))
            .map((p) => p.seq),
        ).toEqual([3, 8]);
        const stored = await driver.all<{ t: string; d: string; m: string | null }>(
          `SELECT typeof(id) AS t, typeof(device) AS d, typeof(metadata) AS m FROM events_20261120 ORDER BY seq`,
        );
        expect(stored).toEqual([{ t: "blob", d: "integer", m: "integer" }, {
          t: "text",
          d: "integer",
          m: "null",
        }]);
        expect((await store.storage.layout()).dictionary).toMatchObject({
          devices: 2,
          eventTypes: 2,
          tagSets: 1,
        });
        expect(
          await driver.all("SELECT name FROM sqlite_master WHERE name GLOB '*retired*' OR name GLOB 'v7_*'"),
        )
          .toEqual([]);
        // Old ids still dedup (the UUID now as its bytes); the retired day's id is forgotten; seqs
        // continue above the retired table's.
        const result = await store.commitEvents([
          event(UUID, { timestamp: T + 2 * DAY }),
          event("plain", { timestamp: T }),
          event("gone", { timestamp: T }),
        ]);
        expect(result).toEqual({ outcomes: ["duplicate", "duplicate", "accepted"], firstSeq: 21 });
        expect((await store.stats()).events).toBe(5);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
