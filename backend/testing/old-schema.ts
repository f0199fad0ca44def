/**
 * Databases as older code left them, for migration tests: the migrations
 * before a version applied the way the runner applies them, then rows written
 * the way that code wrote them.
 */
import { MIGRATIONS } from "../store/sqlite/migrations.ts";
import type { SqlDriver } from "../store/sqlite/sql-driver.ts";

/** SQLite tuning of a small test database on libSQL (both runtimes have it). */
export const OLD_SCHEMA_TUNING = {
  cacheMb: 16,
  walAutocheckpointPages: 1000,
  synchronous: "normal" as const,
  preference: "libsql" as const,
};

/** Applies every migration before `version` (planned ones through their plan), recording each. */
export async function migrateBefore(driver: SqlDriver, version: number): Promise<void> {
  await driver.exec(
    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
  );
  for (const m of MIGRATIONS.filter((m) => m.version < version)) {
    const sql = m.plan ? await m.plan(driver) : m.sql.split(";").map((s) => s.trim()).filter(Boolean);
    await driver.writeBatch([
      ...sql.map((s) => ({ sql: s, args: [] })),
      {
        sql: "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)",
        args: [m.version, m.name],
      },
    ]);
  }
}
