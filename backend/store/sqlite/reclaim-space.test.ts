/**
 * Returning a dropped day's pages to the file system (`reclaimSpace`, incremental vacuum) on every
 * SQLite driver of the runtime: all free pages go, the file shrinks by them, and each step frees
 * many pages. Under Deno, `DatabaseSync.exec` stepped `PRAGMA incremental_vacuum(512)` once, which
 * frees one page: a 1 M-event day took ~25,000 steps (docs/PERFORMANCE.md).
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type DriverPreference, openSqlDriver } from "../../adapters/sqlite/open-driver.ts";
import { zlibPayloadCodec } from "../../adapters/sqlite/zlib-payload-codec.ts";
import { hasNodeSqlite } from "../../testing/sqlite-harness.ts";
import { MIDNIGHT } from "../partition-contract.ts";
import { noise } from "../storage-contract.ts";
import { event } from "../store-contract.ts";
import type { SqlDriver } from "./sql-driver.ts";
import { createSqliteStore } from "./sqlite-store.ts";

const drivers: DriverPreference[] = [
  "libsql",
  ...(hasNodeSqlite ? ["node-sqlite" as const] : []),
  ...(hasNodeSqlite && typeof Worker === "function" ? ["node-sqlite-worker" as const] : []),
];

describe.each(drivers)("Reclaiming a dropped day's space (%s)", (preference) => {
  it("frees every free page in steps of many pages, shrinking the file by them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-reclaim-"));
    const file = join(dir, "store.db");
    const driver = await openSqlDriver(`file:${file}`, {
      cacheMb: 16,
      walAutocheckpointPages: 1000,
      synchronous: "normal",
      preference,
    });
    const steps: string[] = [];
    const counting: SqlDriver = {
      name: driver.name,
      local: driver.local,
      exec(sql) {
        if (/incremental_vacuum/.test(sql)) steps.push(sql);
        return driver.exec(sql);
      },
      all: (sql, args) => driver.all(sql, args),
      writeBatch: (statements) => driver.writeBatch(statements),
      close: () => driver.close(),
    };
    const store = await createSqliteStore({ driver: counting, payloadCodec: zlibPayloadCodec });
    const freePages = async () =>
      (await driver.all<{ n: number }>("SELECT freelist_count AS n FROM pragma_freelist_count()"))[0].n;
    try {
      // ~3 MB of incompressible payloads on one day, next to one event on the next day.
      for (let i = 0; i < 3; i++) {
        await store.commitEvents(Array.from({ length: 1000 }, (_, j) =>
          event(`e-${i}-${j}`, {
            timestamp: MIDNIGHT + i * 1000 + j,
            data: { blob: noise(1000, i * 1000 + j + 1) },
          })));
      }
      await store.commitEvents([event("kept", { timestamp: MIDNIGHT + 86_400_000 })]);
      expect(await store.storage.dropEventPartition(MIDNIGHT)).toEqual({ rows: 3000 });
      await driver.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      const free = await freePages();
      const sizeBefore = statSync(file).size;
      const pageCount = async () =>
        (await driver.all<{ n: number }>("SELECT page_count AS n FROM pragma_page_count()"))[0].n;
      const pagesBefore = await pageCount();
      expect(free).toBeGreaterThan(500);

      const freed = await store.storage.reclaimSpace();
      await driver.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      expect(freed).toBe(free);
      expect(await freePages()).toBe(0);
      const [{ pageSize }] = await driver.all<{ pageSize: number }>(
        "SELECT page_size AS pageSize FROM pragma_page_size()",
      );
      // The file shrinks by the free pages and by the pointer-map pages (auto_vacuum's, one every
      // pageSize / 5 pages from page 2) that stood among them: which ones do depends on the layout.
      const pagesAfter = await pageCount();
      const pointerMaps = Array.from({ length: pagesBefore }, (_, i) => i + 1)
        .filter((p) => p > pagesAfter && (p - 2) % (Math.floor(pageSize / 5) + 1) === 0).length;
      expect(pagesBefore - pagesAfter).toBe(free + pointerMaps);
      expect(sizeBefore - statSync(file).size).toBe((free + pointerMaps) * pageSize);
      // Each step frees its pages (at least 8 a step, 64 at first), not one.
      expect(steps.length).toBeGreaterThan(0);
      expect(steps.length).toBeLessThanOrEqual(Math.ceil(free / 8));
      expect((await store.getEvent("kept"))?.timestamp).toBe(MIDNIGHT + 86_400_000);
    } finally {
      await store.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
