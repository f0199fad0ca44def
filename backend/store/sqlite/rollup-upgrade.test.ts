/**
 * Rollup buckets written in the layout before migration 16 (the `rollups` table, names as text,
 * absolute times) after the upgrade: every read answers as if the same buckets had been written
 * to `rollups_c`; a flush into one merges it exactly once and moves it (in the flush's
 * transaction, so a failed flush leaves it where it was); expiry deletes from both tables, after
 * which the old one is no longer read; the export walks both in one key order, each bucket once,
 * even while flushes move buckets between its pages.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type DriverPreference, openSqlDriver } from "../../adapters/sqlite/open-driver.ts";
import { zlibPayloadCodec } from "../../adapters/sqlite/zlib-payload-codec.ts";
import { exportStream } from "../../export/export-service.ts";
import { Agg, type AggState, mergeStates } from "../../stream/aggregate.ts";
import { migrateBefore, OLD_SCHEMA_TUNING, oldRollupStatements } from "../../testing/old-schema.ts";
import { hasNodeSqlite } from "../../testing/sqlite-harness.ts";
import type { RollupRecord, SeriesRecord, Store } from "../store.ts";
import type { SqlDriver, SqlStatement } from "./sql-driver.ts";
import { createSqliteStore } from "./sqlite-store.ts";

const M = 60_000;
const H = 3_600_000;
const DAY = 86_400_000;
const MIDNIGHT = Date.parse("2026-11-22T00:00:00.000Z");
/** In name order: the order of the codes migration 16 hands out for the series' names. */
const TYPES = ["humidity", "temperature"];
const DEVICES = [null, "dev-a", "dev-b"];
const drivers: DriverPreference[] = ["libsql", ...(hasNodeSqlite ? ["node-sqlite" as const] : [])];

function state(values: number[], ts: number): AggState {
  const a = new Agg();
  values.forEach((v, i) => a.add(v, ts + i, 100 + i));
  return a.toState();
}

const minute = (eventType: string, deviceId: string | null, k: number, values: number[]): RollupRecord => ({
  resolution: M,
  eventType,
  deviceId,
  start: MIDNIGHT + k * M,
  state: state(values, MIDNIGHT + k * M + 7),
});

/** Ten 1 min buckets and one 1 h bucket of every type and device, each with its own values. */
function oldBuckets(): RollupRecord[] {
  const out: RollupRecord[] = [];
  TYPES.forEach((eventType, t) =>
    DEVICES.forEach((deviceId, d) => {
      for (let k = 0; k < 10; k++) out.push(minute(eventType, deviceId, k, [t, d, k, -k * 0.5]));
      out.push({
        resolution: H,
        eventType,
        deviceId,
        start: MIDNIGHT,
        state: state([t * 10 + d], MIDNIGHT + 1),
      });
    })
  );
  return out;
}

const SERIES: SeriesRecord[] = TYPES.flatMap((eventType) =>
  DEVICES.filter((d) => d !== null).map((deviceId) => ({ eventType, deviceId, state: state([1], MIDNIGHT) }))
);

interface Opened {
  store: Store;
  /** The store's driver, for counting rows of each table. */
  driver: SqlDriver;
  /** Statements the store sent that name the old table. */
  oldTableReads: string[];
  failRollupWrites: { on: boolean };
  reopen(): Promise<Opened>;
}

/** A database that the code before migration 16 left with `records` in it, opened by this code. */
async function withOldLayout(
  preference: DriverPreference,
  records: readonly RollupRecord[],
  fn: (o: Opened) => Promise<void>,
) {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-rollup-upgrade-"));
  const url = `file:${join(dir, "store.db")}`;
  const opened: Opened[] = [];
  try {
    const old = await openSqlDriver(url, OLD_SCHEMA_TUNING);
    await migrateBefore(old, 16);
    await old.writeBatch(oldRollupStatements(records, SERIES, 10));
    await old.close();
    const open = async (): Promise<Opened> => {
      const driver = await openSqlDriver(url, { ...OLD_SCHEMA_TUNING, preference });
      const oldTableReads: string[] = [];
      const failRollupWrites = { on: false };
      const wrapped: SqlDriver = {
        name: driver.name,
        local: driver.local,
        exec: (sql) => driver.exec(sql),
        all(sql, args) {
          if (/\brollups\b/.test(sql)) oldTableReads.push(sql);
          return driver.all(sql, args);
        },
        writeBatch(statements: SqlStatement[]) {
          if (failRollupWrites.on && statements.some((s) => /INTO rollups_c/.test(s.sql))) {
            return Promise.reject(new Error("disk I/O error"));
          }
          return driver.writeBatch(statements);
        },
        close: () => driver.close(),
      };
      const store = await createSqliteStore({ driver: wrapped, payloadCodec: zlibPayloadCodec });
      const o = { store, driver, oldTableReads, failRollupWrites, reopen: open };
      opened.push(o);
      return o;
    };
    await fn(await open());
  } finally {
    for (const o of opened) await o.store.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A fresh database whose buckets were all written by flushes of this code. */
async function withNewLayout(
  preference: DriverPreference,
  records: RollupRecord[],
  fn: (s: Store) => Promise<void>,
) {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-rollup-new-"));
  const driver = await openSqlDriver(`file:${join(dir, "store.db")}`, { ...OLD_SCHEMA_TUNING, preference });
  const store = await createSqliteStore({ driver, payloadCodec: zlibPayloadCodec });
  try {
    await store.applyRollupFlush({ rollups: records, series: SERIES, checkpoint: 10 });
    await fn(store);
  } finally {
    await store.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

const rowsIn = async (driver: SqlDriver, table: "rollups" | "rollups_c") =>
  (await driver.all<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))[0].n;

const keyOf = (r: RollupRecord) => `${r.eventType}|${r.deviceId}|${r.resolution}|${r.start - MIDNIGHT}`;

/** Every page of the export's scan of `resolution` over [from, to), as keys. */
async function scanKeys(
  store: Store,
  resolution: number,
  limit: number,
  from = MIDNIGHT - DAY,
  to = MIDNIGHT + DAY,
) {
  const out: string[] = [];
  let after: { eventType: string; deviceId: string | null; start: number } | undefined;
  for (;;) {
    const page = await store.storage.scanRollups({ resolution, from, to, after, limit });
    out.push(...page.map(keyOf));
    if (out.length > 10_000) throw new Error(`the scan does not advance: ${out.slice(-3).join(", ")}`);
    if (page.length < limit) return out;
    const last = page[page.length - 1];
    after = { eventType: last.eventType, deviceId: last.deviceId, start: last.start };
  }
}

/** What every rollup read of the store answers, in plain values. */
async function answers(store: Store) {
  const out: Record<string, unknown> = {};
  for (const eventType of [...TYPES, "pressure"]) {
    for (const resolution of [M, H]) {
      const q = { eventType, resolution, deviceIds: DEVICES, from: MIDNIGHT - H, to: MIDNIGHT + DAY };
      const at = `${eventType} ${resolution}`;
      out[`rows ${at}`] = await store.readRollups({ ...q, sketches: true });
      out[`part ${at}`] = await store.readRollups({
        ...q,
        from: MIDNIGHT + 3 * M + 1,
        to: MIDNIGHT + 7 * M,
        sketches: false,
      });
      out[`columns ${at}`] = (await store.readRollupColumns(q)).map((c) =>
        Object.fromEntries(
          Object.entries(c).map(([k, v]) => [k, v instanceof Float64Array ? Array.from(v) : v]),
        )
      );
      out[`slots ${at}`] = (await store.readRollupSlots({ ...q, to: MIDNIGHT + 2 * H })).map((c) =>
        Object.fromEntries(
          Object.entries(c).map(([k, v]) => [k, v instanceof Float64Array ? Array.from(v) : v]),
        )
      );
    }
  }
  out.endingAfter = (await store.readRollupsEndingAfter(MIDNIGHT + 5 * M, [M, H]))
    .sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  for (const limit of [1, 4, 1000]) out[`export ${limit}`] = await scanKeys(store, M, limit);
  out.exportHours = await scanKeys(store, H, 2);
  out.tiers = (await store.storage.layout()).rollups.map(({ bytes: _, ...tier }) => tier);
  out.series = await store.listSeries({ devices: true, limit: 100 });
  return out;
}

/** The keys of the 1 min buckets in export order: per type, the all-device series then devices. */
function exportOrder(types: string[], devices: Record<string, (string | null)[]>, ks: number[]) {
  return types.flatMap((t) => devices[t].flatMap((d) => ks.map((k) => `${t}|${d}|${M}|${k * M}`)));
}
const TEN = Array.from({ length: 10 }, (_, k) => k);

describe.each(drivers)("Rollups in the layout before migration 16 (%s)", (preference) => {
  it("answers every read as the same buckets written by this code do, before and after flushes move some", async () => {
    const records = oldBuckets();
    await withOldLayout(preference, records, async ({ store, driver }) => {
      expect([await rowsIn(driver, "rollups"), await rowsIn(driver, "rollups_c")]).toEqual([66, 0]);
      const upgraded = await answers(store);
      expect(upgraded["export 4"]).toEqual(
        exportOrder(TYPES, { humidity: DEVICES, temperature: DEVICES }, TEN),
      );
      expect(upgraded.tiers).toEqual([
        { resolution: M, rows: 60, oldest: MIDNIGHT, newest: MIDNIGHT + 9 * M },
        { resolution: H, rows: 6, oldest: MIDNIGHT, newest: MIDNIGHT },
      ]);
      const deltas = [minute("temperature", "dev-a", 3, [50]), minute("humidity", null, 9, [-7, 8])];
      await withNewLayout(preference, records, async (fresh) => {
        expect(upgraded).toEqual(await answers(fresh));
        await fresh.applyRollupFlush({ rollups: deltas, series: [], checkpoint: 11 });
        await store.applyRollupFlush({ rollups: deltas, series: [], checkpoint: 11 });
        expect(await answers(store)).toEqual(await answers(fresh));
      });
      expect([await rowsIn(driver, "rollups"), await rowsIn(driver, "rollups_c")]).toEqual([64, 2]);
    });
  });

  it("merges a flush into a bucket of the old table exactly once and moves it, or leaves it if the flush fails", async () => {
    const records = oldBuckets();
    const original = records.find((r) => keyOf(r) === `temperature|dev-a|${M}|${3 * M}`)!;
    await withOldLayout(preference, records, async (opened) => {
      const { store, driver } = opened;
      const where = (table: string) =>
        table === "rollups"
          ? `SELECT count(*) AS n FROM rollups WHERE event_type = 'temperature' AND device_id = 'dev-a' AND resolution = ${M} AND start = ${original.start}`
          : `SELECT count(*) AS n FROM rollups_c WHERE bucket = ${original.start / M} AND resolution = ${M}`;
      const placed = async () => [
        (await driver.all<{ n: number }>(where("rollups")))[0].n,
        (await driver.all<{ n: number }>(where("rollups_c")))[0].n,
      ];
      const read = async (s: Store) =>
        (await s.readRollups({
          eventType: "temperature",
          resolution: M,
          deviceIds: ["dev-a"],
          from: original.start,
          to: original.start + M,
          sketches: true,
        })).map((r) => r.state);
      const d1 = minute("temperature", "dev-a", 3, [1000, -1000]);
      const d2 = minute("temperature", "dev-a", 3, [7]);

      opened.failRollupWrites.on = true;
      await expect(store.applyRollupFlush({ rollups: [d1], series: [], checkpoint: 11 })).rejects.toThrow(
        "disk I/O error",
      );
      opened.failRollupWrites.on = false;
      expect(await placed()).toEqual([1, 0]);
      expect(await read(store)).toEqual([original.state]);
      expect(await store.rollupCheckpoint()).toBe(10);

      const merged = await store.applyRollupFlush({ rollups: [d1], series: [], checkpoint: 11 });
      const once = mergeStates(original.state, d1.state);
      expect(merged).toEqual([once]);
      expect(await placed()).toEqual([0, 1]);
      expect(await read(store)).toEqual([once]);
      expect(once.count).toBe(6);

      await store.applyRollupFlush({ rollups: [d2], series: [], checkpoint: 12 });
      const twice = mergeStates(once, d2.state);
      expect(twice.count).toBe(7);
      expect(await placed()).toEqual([0, 1]);
      expect(await read(store)).toEqual([twice]);
      const again = await opened.reopen();
      expect(await read(again.store)).toEqual([twice]);
      expect(await again.store.rollupCheckpoint()).toBe(12);
    });
  });

  it("expires buckets from both tables, then reads only the new one", async () => {
    await withOldLayout(preference, oldBuckets(), async ({ store, driver, oldTableReads }) => {
      await store.applyRollupFlush({
        rollups: [
          minute("temperature", "dev-a", 2, [1]), // moved, then expired
          minute("temperature", "dev-a", 6, [1]), // moved, kept
          minute("temperature", "dev-a", 12, [1]), // new, kept
        ],
        series: [],
        checkpoint: 11,
      });
      expect([await rowsIn(driver, "rollups"), await rowsIn(driver, "rollups_c")]).toEqual([64, 3]);
      expect(await store.storage.expireRollups(M, MIDNIGHT + 5 * M)).toBe(2 * 3 * 5);
      expect([await rowsIn(driver, "rollups"), await rowsIn(driver, "rollups_c")]).toEqual([35, 2]);
      const starts = async (deviceId: string | null) =>
        (await store.readRollups({
          eventType: "temperature",
          resolution: M,
          deviceIds: [deviceId],
          from: MIDNIGHT - DAY,
          to: MIDNIGHT + DAY,
          sketches: false,
        })).map((r) => (r.start - MIDNIGHT) / M);
      expect(await starts("dev-a")).toEqual([5, 6, 7, 8, 9, 12]);
      expect(await starts(null)).toEqual([5, 6, 7, 8, 9]);

      expect(await store.storage.expireRollups(M, MIDNIGHT + 10 * M)).toBe(2 * 3 * 5);
      expect(await store.storage.expireRollups(H, MIDNIGHT + H)).toBe(6);
      expect([await rowsIn(driver, "rollups"), await rowsIn(driver, "rollups_c")]).toEqual([0, 1]);
      oldTableReads.length = 0;
      expect(await starts("dev-a")).toEqual([12]);
      expect(await scanKeys(store, M, 5)).toEqual([`temperature|dev-a|${M}|${12 * M}`]);
      await store.applyRollupFlush({
        rollups: [minute("humidity", "dev-b", 12, [3])],
        series: [],
        checkpoint: 12,
      });
      expect(await scanKeys(store, M, 5)).toEqual([
        `humidity|dev-b|${M}|${12 * M}`,
        `temperature|dev-a|${M}|${12 * M}`,
      ]);
      expect((await store.storage.layout()).rollups.map((t) => t.rows)).toEqual([2]);
      expect(oldTableReads).toEqual([]);
    });
  });

  it("exports both tables in one key order, each bucket once, while flushes move buckets between pages", async () => {
    await withOldLayout(preference, oldBuckets(), async ({ store, driver }) => {
      // New names get codes after the old ones: pressure and dev-0 sort after them, not by name.
      const fresh: RollupRecord[] = [];
      for (let k = 0; k < 10; k++) {
        fresh.push(
          minute("pressure", "dev-0", k, [k]),
          minute("pressure", null, k, [k]),
          minute("humidity", "dev-0", k, [k]),
          minute("temperature", "dev-b", k, [100]), // moves every old dev-b bucket of temperature
        );
      }
      await store.applyRollupFlush({ rollups: fresh, series: [], checkpoint: 11 });
      expect([await rowsIn(driver, "rollups"), await rowsIn(driver, "rollups_c")]).toEqual([56, 40]);
      const order = (ks: number[]) =>
        exportOrder(["humidity", "temperature", "pressure"], {
          humidity: [...DEVICES, "dev-0"],
          temperature: DEVICES,
          pressure: [null, "dev-0"],
        }, ks);
      for (const limit of [1, 3, 7, 1000]) expect(await scanKeys(store, M, limit)).toEqual(order(TEN));

      const ndjson = async (pageSize: number, only: { eventType?: string; deviceId?: string } = {}) => {
        const stream = await exportStream(
          store,
          {
            source: "rollups",
            format: "ndjson",
            resolution: M,
            from: MIDNIGHT + 2 * M,
            to: MIDNIGHT + 8 * M,
            ...only,
          },
          { pageSize },
        );
        return (await new Response(stream).text()).trim().split("\n").map((l) => {
          const r = JSON.parse(l);
          return `${r.eventType}|${r.deviceId}|${r.resolution}|${r.start - MIDNIGHT}`;
        });
      };
      const inRange = order([2, 3, 4, 5, 6, 7]);
      for (const pageSize of [1, 5, 5000]) expect(await ndjson(pageSize)).toEqual(inRange);
      expect(await ndjson(4, { deviceId: "dev-0" })).toEqual(
        inRange.filter((k) => k.split("|")[1] === "dev-0"),
      );
      expect(await ndjson(4, { eventType: "temperature" })).toEqual(
        inRange.filter((k) => k.startsWith("temperature|")),
      );
      expect(await ndjson(2, { eventType: "humidity", deviceId: "dev-b" })).toEqual(
        inRange.filter((k) => k.startsWith("humidity|dev-b|")),
      );

      // Between pages of 3, a flush moves two old buckets: one the export passed, one ahead of it.
      const old = oldBuckets().filter((r) => r.resolution === M && r.deviceId !== "dev-b");
      const pages: string[] = [];
      let after: { eventType: string; deviceId: string | null; start: number } | undefined;
      for (let i = 0;; i++) {
        const page = await store.storage.scanRollups({
          resolution: M,
          from: MIDNIGHT - DAY,
          to: MIDNIGHT + DAY,
          after,
          limit: 3,
        });
        pages.push(...page.map(keyOf));
        if (page.length < 3 || pages.length > 1000) break;
        const last = page[page.length - 1];
        after = { eventType: last.eventType, deviceId: last.deviceId, start: last.start };
        const touch = [old[(2 * i) % old.length], old[(2 * i + 17) % old.length]];
        await store.applyRollupFlush({
          rollups: touch.map((r) => ({ ...r, state: state([1], r.start) })),
          series: [],
          checkpoint: 12 + i,
        });
      }
      expect(pages).toEqual(order(TEN));
      // The 30 flushes touched each of the 40 old buckets left of those series: 16 old rows remain.
      expect(await rowsIn(driver, "rollups")).toBe(16);
    });
  });
});
