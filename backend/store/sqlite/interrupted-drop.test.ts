import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../../adapters/sqlite/open-driver.ts";
import { event } from "../store-contract.ts";
import { hookedDriver } from "../../testing/store-faults.ts";
import type { SqlDriver } from "./sql-driver.ts";
import { createSqliteStore } from "./sqlite-store.ts";

const tuning = { cacheMb: 16, walAutocheckpointPages: 1000, synchronous: "normal" as const };
const MIDNIGHT = Date.parse("2026-11-22T00:00:00.000Z");
const DAY = 86_400_000;

/** Every write that forgets ids fails: the drop stops after its rename, as a crash there would. */
const crashAfterRename = (driver: SqlDriver) =>
  hookedDriver(driver, {
    failWrite: (statements) =>
      statements.some((s) => /DELETE FROM event_ids/.test(s.sql)) ? new Error("injected crash") : null,
  });

async function withDb(fn: (url: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-drop-"));
  try {
    await fn(`file:${join(dir, "store.db")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Day 0 holds the newest seqs: 1 on day 1, then 1..5 more on day 0 → top seq 6 in day 0. */
async function seed(url: string) {
  const store = await createSqliteStore({
    driver: await openSqlDriver(url, { ...tuning, preference: "libsql" }),
  });
  await store.commitEvents([event("d1", { timestamp: MIDNIGHT + DAY })]);
  const last = await store.commitEvents(
    Array.from({ length: 5 }, (_, i) => event(`d0-${i}`, { timestamp: MIDNIGHT + i })),
  );
  return { store, top: last.firstSeq + 4 };
}

describe("A drop interrupted between its rename and its DROP", () => {
  it("never hands out the retired day's seqs again after reopening, and finishes the drop", async () => {
    await withDb(async (url) => {
      const { store, top } = await seed(url);
      expect(top).toBe(6);
      await store.close();
      const crashing = await createSqliteStore({
        driver: crashAfterRename(await openSqlDriver(url, { ...tuning, preference: "libsql" })),
      });
      await expect(crashing.storage.dropEventPartition(MIDNIGHT)).rejects.toThrow("injected crash");
      await crashing.close();

      const reopened = await createSqliteStore({
        driver: await openSqlDriver(url, { ...tuning, preference: "libsql" }),
      });
      try {
        expect((await reopened.storage.eventPartitions()).map((p) => p.day)).toEqual(["2026-11-23"]);
        expect((await reopened.commitEvents([event("new", { timestamp: MIDNIGHT + DAY + 5 })])).firstSeq)
          .toBe(top + 1);
        expect(await reopened.storage.resumeDrops()).toBe(1);
        expect((await reopened.storage.layout()).eventIds.rows).toBe(2);
      } finally {
        await reopened.close();
      }
    });
  });

  it("counts a retired table's seqs even when no seq floor was written (a rename left by a crash)", async () => {
    await withDb(async (url) => {
      const { store, top } = await seed(url);
      await store.close();
      const raw = await openSqlDriver(url, { ...tuning, preference: "libsql" });
      await raw.writeBatch([{
        sql: "ALTER TABLE events_20261122 RENAME TO retired_events_20261122",
        args: [],
      }]);
      await raw.close();
      const reopened = await createSqliteStore({
        driver: await openSqlDriver(url, { ...tuning, preference: "libsql" }),
      });
      try {
        expect((await reopened.commitEvents([event("new", { timestamp: MIDNIGHT + DAY + 5 })])).firstSeq)
          .toBe(top + 1);
        await reopened.storage.resumeDrops();
        const next = await reopened.commitEvents([event("new2", { timestamp: MIDNIGHT + DAY + 6 })]);
        expect(next.firstSeq).toBe(top + 2);
      } finally {
        await reopened.close();
      }
    });
  });
});
