import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../../adapters/sqlite/open-driver.ts";
import type { IdempotencyRecord, Store } from "../store.ts";
import { migrateBefore, OLD_SCHEMA_TUNING as tuning } from "../../testing/old-schema.ts";
import { createSqliteStore, PURGE_BATCH } from "./sqlite-store.ts";
import type { SqlDriver } from "./sql-driver.ts";

const T0 = Date.parse("2026-12-07T08:00:00.000Z");

function record(idemKey: string, createdAt: number, expiresAt: number): IdempotencyRecord {
  return {
    keyId: "k1",
    idemKey,
    fingerprint: `f-${idemKey}`,
    status: 202,
    body: `{"k":"${idemKey}"}`,
    createdAt,
    expiresAt,
  };
}

async function withDatabase(fn: (url: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-idem-"));
  try {
    await fn(`file:${join(dir, "s.db")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Opens the store on `url` (migrating it), runs `fn`, closes it. */
async function withStore(url: string, fn: (store: Store, driver: SqlDriver) => Promise<void>): Promise<void> {
  const driver = await openSqlDriver(url, tuning);
  const store = await createSqliteStore({ driver });
  try {
    await fn(store, driver);
  } finally {
    await store.close();
  }
}

const keysInRowidOrder = async (driver: SqlDriver) =>
  (await driver.all<{ idem_key: string }>("SELECT idem_key FROM idempotency_records ORDER BY rowid"))
    .map((r) => r.idem_key);

describe("Idempotency records (migration 17: appended in creation order)", () => {
  it("migrates the keyed layout's records in creation order, keeps them readable, drops the expiry index", async () => {
    await withDatabase(async (url) => {
      const old = await openSqlDriver(url, tuning);
      await migrateBefore(old, 17);
      // Key order differs from creation order, so the copy's order is visible.
      const records = [
        record("b", T0 + 2, T0 + 1000),
        record("a", T0 + 1, T0 + 1000),
        record("c", T0 + 3, T0 + 5),
      ];
      await old.writeBatch(records.map((r) => ({
        sql:
          "INSERT INTO idempotency_records (key_id, idem_key, fingerprint, status, body, created_at, expires_at)" +
          " VALUES (?, ?, ?, ?, ?, ?, ?)",
        args: [r.keyId, r.idemKey, r.fingerprint, r.status, r.body, r.createdAt, r.expiresAt],
      })));
      await old.close();

      await withStore(url, async (store, driver) => {
        expect(await keysInRowidOrder(driver)).toEqual(["a", "b", "c"]);
        for (const r of records) expect(await store.getIdempotencyRecord("k1", r.idemKey, T0 + 4)).toEqual(r);
        expect(await store.getIdempotencyRecord("k1", "c", T0 + 5)).toBeNull();
        const indexes = await driver.all<{ name: string; unique: number }>(
          "SELECT name, \"unique\" FROM pragma_index_list('idempotency_records')",
        );
        expect(indexes).toEqual([{ name: "idempotency_key", unique: 1 }]);
        // The unique key still decides: a second record of a key replaces the first.
        await store.saveIdempotencyRecords([record("c", T0 + 10, T0 + 2000)]);
        expect(await keysInRowidOrder(driver)).toEqual(["a", "b", "c"]);
        expect(await store.getIdempotencyRecord("k1", "c", T0 + 10)).toEqual(record("c", T0 + 10, T0 + 2000));
      });
    });
  });

  it("purges the expired prefix in creation order; a longer-lived record holds later expired ones back", async () => {
    await withDatabase(async (url) => {
      await withStore(url, async (store, driver) => {
        // "b" was made with a longer TTL than "c" after it (the TTL was lowered in between).
        await store.saveIdempotencyRecords([
          record("a", T0, T0 + 10),
          record("b", T0 + 1, T0 + 100),
          record("c", T0 + 2, T0 + 20),
        ]);
        expect(await store.purgeIdempotencyRecords(T0 + 50)).toBe(1);
        expect(await keysInRowidOrder(driver)).toEqual(["b", "c"]);
        // Held back on disk, but never answered: reads check the expiry.
        expect(await store.getIdempotencyRecord("k1", "c", T0 + 50)).toBeNull();
        expect(await store.getIdempotencyRecord("k1", "b", T0 + 50)).toEqual(record("b", T0 + 1, T0 + 100));
        // Replacing a record moves it to the end: "a" again, valid longer than everything.
        await store.saveIdempotencyRecords([record("a", T0 + 60, T0 + 500)]);
        expect(await store.purgeIdempotencyRecords(T0 + 150)).toBe(2);
        expect(await keysInRowidOrder(driver)).toEqual(["a"]);
        expect(await store.purgeIdempotencyRecords(T0 + 150)).toBe(0);
        expect(await store.purgeIdempotencyRecords(T0 + 500)).toBe(1);
        expect(await keysInRowidOrder(driver)).toEqual([]);
      });
    });
  });

  it("purges more than one transaction's worth of records, and stops at the first valid one", async () => {
    await withDatabase(async (url) => {
      await withStore(url, async (store, driver) => {
        const expired = 2 * PURGE_BATCH + 3;
        const records = Array.from({ length: expired }, (_, i) => record(`e${i}`, T0 + i, T0 + 1000));
        records.push(record("valid", T0 + expired, T0 + 5000), record("late", T0 + expired + 1, T0 + 1000));
        for (let i = 0; i < records.length; i += 1000) {
          await store.saveIdempotencyRecords(records.slice(i, i + 1000));
        }
        expect(await store.purgeIdempotencyRecords(T0 + 2000)).toBe(expired);
        expect(await keysInRowidOrder(driver)).toEqual(["valid", "late"]);
      });
    });
  });
});
