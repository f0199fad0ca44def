import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../store/sqlite/migrations.ts";
import { createSqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { migrateBefore, OLD_SCHEMA_TUNING } from "../../testing/old-schema.ts";
import { hasNodeSqlite } from "../../testing/sqlite-harness.ts";
import { withTempDir } from "../../testing/with-app.ts";
import { openSqlDriver } from "./open-driver.ts";
import { writeBackupFile } from "./sqlite-backup.ts";

const LATEST = Math.max(...MIGRATIONS.map((m) => m.version));
/** The schema version of a database that code before migration 14 left. */
const BEFORE_14 = Math.max(...MIGRATIONS.filter((m) => m.version < 14).map((m) => m.version));

// The restore CLI runs on Deno (node:sqlite); `npm test` runs this file under Deno too.
describe.runIf(hasNodeSqlite)("restoreDatabaseFile", () => {
  it("restores the backup of an older schema, which the store then migrates to the latest", async () => {
    const { restoreDatabaseFile } = await import("./sqlite-restore.ts");
    await withTempDir(async (dir) => {
      const old = join(dir, "old.db");
      const driver = await openSqlDriver(`file:${old}`, OLD_SCHEMA_TUNING);
      await migrateBefore(driver, 14);
      await driver.close();
      const backup = join(dir, "backup.db");
      expect((await writeBackupFile(old, backup, { force: false })).bytes).toBeGreaterThan(0);

      const target = join(dir, "restored", "pulse.db");
      const restored = await restoreDatabaseFile(backup, target, { force: false, now: 0 });
      expect(restored).toMatchObject({ schemaVersion: BEFORE_14, previous: null });
      expect(BEFORE_14).toBeLessThan(LATEST);
      expect(existsSync(target)).toBe(true);

      // What the server does at start: open the store, which applies the missing migrations.
      const store = await createSqliteStore({
        driver: await openSqlDriver(`file:${target}`, OLD_SCHEMA_TUNING),
      });
      try {
        expect(await store.rollupCheckpoint()).toBe(0);
        expect((await store.stats()).events).toBe(0);
      } finally {
        await store.close();
      }
      const check = await openSqlDriver(`file:${target}`, OLD_SCHEMA_TUNING);
      try {
        const [row] = await check.all<{ v: number }>("SELECT max(version) AS v FROM schema_migrations");
        expect(row.v).toBe(LATEST);
      } finally {
        await check.close();
      }
    });
  });

  it("refuses a file that is not a PulseStream database and a missing one, changing nothing", async () => {
    const { restoreDatabaseFile, RestoreError } = await import("./sqlite-restore.ts");
    await withTempDir(async (dir) => {
      const plain = join(dir, "plain.db");
      const driver = await openSqlDriver(`file:${plain}`, OLD_SCHEMA_TUNING);
      await driver.exec("CREATE TABLE t (x)");
      await driver.close();
      const target = join(dir, "t.db");
      await expect(restoreDatabaseFile(plain, target, { force: true, now: 0 })).rejects.toThrow(
        /is not a PulseStream database/,
      );
      await expect(restoreDatabaseFile(join(dir, "nope.db"), target, { force: true, now: 0 })).rejects
        .toBeInstanceOf(RestoreError);
      expect(existsSync(target)).toBe(false);
    });
  });
});
