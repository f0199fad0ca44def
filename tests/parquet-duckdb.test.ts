/**
 * The Parquet export read back by an independent implementation: DuckDB's own
 * Parquet reader (`@duckdb/node-api`, C++), not the writer's library. Values
 * must be identical, the file columnar with one row group per export page and
 * Snappy-compressed columns. Node only (DuckDB's Node bindings).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { describe, expect, it } from "vitest";
import { exportStream } from "../backend/export/export-service.ts";
import { fileColdStorage } from "../backend/adapters/cold-storage/file-cold-storage.ts";
import { createLogger } from "../backend/logger.ts";
import { RetentionService } from "../backend/storage/retention-service.ts";
import { FakeClock, withApp } from "../backend/testing/with-app.ts";
import type { StoredEvent } from "../shared/event.ts";

/** A stored event as DuckDB reads its row back from our Parquet export. */
const parquetRow = (e: StoredEvent) => ({
  id: e.id,
  deviceId: e.deviceId,
  eventType: e.eventType,
  value: e.value,
  timestamp: BigInt(e.timestamp),
  receivedAt: BigInt(e.receivedAt),
  seq: BigInt(e.seq),
  metadata: e.metadata === null ? null : JSON.stringify(e.metadata),
  data: e.data === null ? null : JSON.stringify(e.data),
});

const NOW = Date.parse("2026-11-22T12:00:00.000Z");

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create();
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
  }
}

describe("Parquet export", () => {
  it("is read back by DuckDB with identical values, columnar and compressed", async () => {
    await withApp(async (f) => {
      const events = Array.from({ length: 12_000 }, (_, i) => ({
        id: `pq-${i}`,
        deviceId: `dev-${i % 7}`,
        eventType: i % 2 ? "temperature" : "humidity",
        ...(i % 9 === 0 ? {} : { value: i / 8 - 300.125 }),
        timestamp: NOW - 20 * 3_600_000 + i * 5000,
        ...(i % 4 ? { metadata: { site: `s${i % 3}`, ok: i % 2 === 0 } } : {}),
        ...(i % 5 === 0 ? { data: { i, text: `é "${i}"` } } : {}),
      }));
      for (let i = 0; i < events.length; i += 5000) {
        const res = await f.request("/v1/events", {
          method: "POST",
          body: JSON.stringify(events.slice(i, i + 5000)),
        });
        expect(res.status).toBe(202);
      }
      await f.server.stream!.flush();
      const file = join(f.dir, "events.parquet");
      const res = await f.request(`/v1/export?format=parquet&from=${NOW - 86_400_000}&to=${NOW}`);
      expect(res.headers.get("content-type")).toBe("application/vnd.apache.parquet");
      writeFileSync(file, new Uint8Array(await res.arrayBuffer()));

      const rows = await query(`SELECT * FROM read_parquet('${file}') ORDER BY timestamp, seq`);
      const stored = await f.server.store.listEvents({ limit: 20_000, order: "asc" });
      expect(rows.length).toBe(12_000);
      expect(rows).toEqual(stored.map(parquetRow));
      // The stored events are the ones sent.
      expect(stored.map((e) => [e.id, e.value, e.timestamp])).toEqual(
        events.map((e) => [e.id, e.value ?? null, e.timestamp]),
      );
      const meta = await query(
        `SELECT row_group_id, path_in_schema, compression FROM parquet_metadata('${file}') ORDER BY row_group_id, path_in_schema`,
      );
      // One row group per HTTP export page of 2,000 events (storage-routes.ts).
      expect(new Set(meta.map((m) => m.row_group_id))).toEqual(new Set([0n, 1n, 2n, 3n, 4n, 5n]));
      expect(new Set(meta.map((m) => m.compression))).toEqual(new Set(["SNAPPY"]));
      expect(meta.filter((m) => m.row_group_id === 0n).map((m) => m.path_in_schema)).toEqual(
        ["data", "deviceId", "eventType", "id", "metadata", "receivedAt", "seq", "timestamp", "value"],
      );
      // Aggregates computed by DuckDB from the file equal the store's rollups.
      const [sums] = await query(
        `SELECT count(*) AS n, count(value) AS valued, sum(value) AS total FROM read_parquet('${file}')`,
      );
      const series = await f.server.store.listSeries({ devices: false, limit: 10 });
      expect(sums.n).toBe(BigInt(series.reduce((n, s) => n + s.state.count, 0)));
      expect(sums.valued).toBe(BigInt(series.reduce((n, s) => n + s.state.valueCount, 0)));
      expect(sums.total).toBeCloseTo(series.reduce((n, s) => n + s.state.sum, 0), 6);

      // Rollups too (the 1 h buckets).
      const rollupFile = join(f.dir, "rollups.parquet");
      const stream = await exportStream(f.server.store, {
        source: "rollups",
        format: "parquet",
        resolution: 3_600_000,
        from: NOW - 86_400_000,
        to: NOW,
      });
      writeFileSync(rollupFile, new Uint8Array(await new Response(stream).arrayBuffer()));
      const buckets = await query(
        `SELECT eventType, deviceId, start, count, sum, min, max FROM read_parquet('${rollupFile}') WHERE deviceId IS NULL ORDER BY eventType, start`,
      );
      const expected = [];
      for (const type of ["humidity", "temperature"]) {
        const cols = (await f.server.store.readRollupColumns({
          eventType: type,
          resolution: 3_600_000,
          deviceIds: [null],
          from: NOW - 86_400_000,
          to: NOW,
        }))[0];
        for (let i = 0; i < cols.start.length; i++) {
          expected.push({
            eventType: type,
            deviceId: null,
            start: BigInt(cols.start[i]),
            count: BigInt(cols.count[i]),
            sum: cols.sum[i],
            min: Number.isNaN(cols.min[i]) ? null : cols.min[i],
            max: Number.isNaN(cols.max[i]) ? null : cols.max[i],
          });
        }
      }
      expect(buckets).toEqual(expected);
    }, { clock: new FakeClock(NOW), env: { RATE_LIMIT_BURST: "100000", MAX_EVENTS_PER_REQUEST: "5000" } });
  });

  it("is what the cold export writes (EXPORT_FORMAT=parquet) before a day leaves the raw tier", async () => {
    const DAY = 86_400_000;
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      // Two events on the day that will leave, one on the day that stays.
      const old = NOW - 9 * DAY - (NOW % DAY); // midnight, 9 days back
      const events = [
        {
          id: "cold-0",
          deviceId: "d1",
          eventType: "t",
          value: 1.5,
          timestamp: old + 1,
          metadata: { k: "v" },
        },
        { id: "cold-1", deviceId: "d2", eventType: "t", timestamp: old + DAY - 1, data: { x: [1, "é"] } },
        { id: "warm-0", deviceId: "d1", eventType: "t", value: 2, timestamp: NOW - DAY },
      ];
      // Accepted while still inside retention, then the clock moves on.
      clock.current = old + DAY;
      expect(
        (await f.request("/v1/events", { method: "POST", body: JSON.stringify(events.slice(0, 2)) })).status,
      )
        .toBe(202);
      clock.current = NOW;
      expect(
        (await f.request("/v1/events", { method: "POST", body: JSON.stringify(events.slice(2)) })).status,
      )
        .toBe(202);
      const stored = await f.server.store.listEvents({ limit: 10, order: "asc" });
      const retention = new RetentionService(f.server.store, clock, createLogger("silent"), {
        rawMs: 7 * DAY,
        minuteRollupsMs: 90 * DAY,
        hourRollupsMs: 730 * DAY,
        checkMs: 60_000,
        storedResolutions: [],
        cold: { storage: fileColdStorage(join(f.dir, "cold")), format: "parquet" },
      });
      const day = new Date(old).toISOString().slice(0, 10);
      const run = await retention.runOnce();
      expect(run.exported.map((e) => e.day)).toEqual([day]);
      expect(run.dropped).toEqual([{ day, rows: 2, ms: expect.any(Number) }]);
      const file = join(f.dir, "cold", `events-${day}.parquet`);
      expect(run.exported[0].path).toBe(file);
      const rows = await query(`SELECT * FROM read_parquet('${file}') ORDER BY timestamp`);
      expect(rows).toEqual(
        stored.slice(0, 2).map(parquetRow),
      );
      expect(rows.map((r) => r.id)).toEqual(["cold-0", "cold-1"]);
      expect((await f.server.store.listEvents({ limit: 10 })).map((e) => e.id)).toEqual(["warm-0"]);
    }, { clock, env: { STREAM_PROCESSING: "off" } });
  });
});
