/**
 * Rollup exports page through the rollups' primary key: whatever the page size and filters, the
 * output is every bucket of the resolution and range, once, ordered by (event type, device with the
 * all-device series first, start); each page is one search of the key (SQLite's plan, asked with
 * `EXPLAIN QUERY PLAN`), never a sort of the whole event type again per page.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type DriverPreference, openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { zlibPayloadCodec } from "../adapters/sqlite/zlib-payload-codec.ts";
import { hasNodeSqlite } from "../testing/sqlite-harness.ts";
import type { SqlDriver, SqlValue } from "../store/sqlite/sql-driver.ts";
import { createSqliteStore } from "../store/sqlite/sqlite-store.ts";
import type { Store } from "../store/store.ts";
import { Agg } from "../stream/aggregate.ts";
import { exportStream } from "./export-service.ts";

const MIDNIGHT = Date.parse("2026-11-22T00:00:00.000Z");
const MINUTE = 60_000;
const HOUR = 3_600_000;
const TYPES = ["humidity", "temperature"];
const DEVICES = [null, "dev-a", "dev-b", "dev-c"];
const drivers: DriverPreference[] = ["libsql", ...(hasNodeSqlite ? ["node-sqlite" as const] : [])];

/** The bucket's event count: distinct per type, device and start, so a misplaced row shows. */
const countOf = (t: number, d: number, k: number) => 1 + ((k + 2 * d + 3 * t) % 5);

function state(n: number, ts: number) {
  const a = new Agg();
  for (let i = 0; i < n; i++) a.add(i, ts + i, ts + i);
  return a.toState();
}

/** Ten minutes of 1 min buckets and one 1 h bucket for every type and device (and all devices). */
async function fill(store: Store) {
  const rollups = [];
  for (const [t, eventType] of TYPES.entries()) {
    for (const [d, deviceId] of DEVICES.entries()) {
      for (let k = 0; k < 10; k++) {
        const start = MIDNIGHT + k * MINUTE;
        rollups.push({
          resolution: MINUTE,
          eventType,
          deviceId,
          start,
          state: state(countOf(t, d, k), start),
        });
      }
      rollups.push({ resolution: HOUR, eventType, deviceId, start: MIDNIGHT, state: state(7, MIDNIGHT) });
    }
  }
  await store.applyRollupFlush({
    rollups,
    series: TYPES.flatMap((eventType) =>
      DEVICES.filter((d) => d !== null).map((deviceId) => ({
        eventType,
        deviceId,
        state: state(1, MIDNIGHT),
      }))
    ),
    checkpoint: 1,
  });
}

/** The 1 min buckets in [from, to) as `type|device|minute|count`, in export order. */
function expected(from: number, to: number, only: { eventType?: string; deviceId?: string } = {}) {
  const out: string[] = [];
  for (const [t, eventType] of TYPES.entries()) {
    if (only.eventType !== undefined && only.eventType !== eventType) continue;
    for (const [d, deviceId] of DEVICES.entries()) {
      if (only.deviceId !== undefined && only.deviceId !== deviceId) continue;
      for (let k = 0; k < 10; k++) {
        const start = MIDNIGHT + k * MINUTE;
        if (start >= from && start < to) out.push(`${eventType}|${deviceId}|${k}|${countOf(t, d, k)}`);
      }
    }
  }
  return out;
}

describe.each(drivers)("Rollup export (%s)", (preference) => {
  it("writes every bucket in range once, in key order, whatever the page size and filters", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-rollup-export-"));
    const driver = await openSqlDriver(`file:${join(dir, "store.db")}`, {
      cacheMb: 16,
      walAutocheckpointPages: 1000,
      synchronous: "normal",
      preference,
    });
    const reads: { sql: string; args: SqlValue[] }[] = [];
    const recording: SqlDriver = {
      ...driver,
      name: driver.name,
      local: driver.local,
      exec: (sql) => driver.exec(sql),
      all(sql, args = []) {
        if (/FROM rollups_c\s/.test(sql)) reads.push({ sql, args });
        return driver.all(sql, args);
      },
      writeBatch: (statements) => driver.writeBatch(statements),
      close: () => driver.close(),
    };
    const store = await createSqliteStore({ driver: recording, payloadCodec: zlibPayloadCodec });
    try {
      await fill(store);
      const from = MIDNIGHT + 2 * MINUTE;
      const to = MIDNIGHT + 8 * MINUTE;
      const run = async (pageSize: number, only: { eventType?: string; deviceId?: string } = {}) => {
        const stream = await exportStream(
          store,
          { source: "rollups", format: "ndjson", resolution: MINUTE, from, to, ...only },
          { pageSize },
        );
        return (await new Response(stream).text()).trim().split("\n").filter((l) => l !== "").map((l) => {
          const r = JSON.parse(l);
          expect(r.resolution).toBe(MINUTE);
          return `${r.eventType}|${r.deviceId}|${(r.start - MIDNIGHT) / MINUTE}|${r.count}`;
        });
      };
      const all = expected(from, to);
      expect(all.length).toBe(2 * 4 * 6);
      for (const pageSize of [1, 5, 7, 5000]) expect(await run(pageSize)).toEqual(all);
      for (
        const only of [{ eventType: "temperature" }, { deviceId: "dev-b" }, {
          eventType: "humidity",
          deviceId: "dev-c",
        }]
      ) {
        for (const pageSize of [1, 4, 5000]) {
          expect(await run(pageSize, only)).toEqual(expected(from, to, only));
        }
      }
      expect(await run(3, { eventType: "pressure" })).toEqual([]);
      // Every page was one search of the primary key, with no sort.
      expect(reads.length).toBeGreaterThan(100);
      for (const r of reads) {
        const plan = (await driver.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${r.sql}`, r.args))
          .map((p) => p.detail);
        expect(plan, r.sql).toEqual([expect.stringMatching(/^SEARCH rollups_c USING PRIMARY KEY \(/)]);
      }
    } finally {
      await store.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
