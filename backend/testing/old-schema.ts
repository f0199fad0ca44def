/**
 * Databases as older code left them, for migration tests: the migrations
 * before a version applied the way the runner applies them, then rows written
 * the way that code wrote them.
 */
import { kindNumber } from "../store/sqlite/event-dictionary.ts";
import { MIGRATIONS } from "../store/sqlite/migrations.ts";
import type { SqlDriver, SqlStatement } from "../store/sqlite/sql-driver.ts";
import type { RollupRecord, SeriesRecord } from "../store/store.ts";
import type { AggState } from "../stream/aggregate.ts";

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

/**
 * The statements with which the code before migration 16 wrote `records` and the series totals
 * into the old `rollups` / `series` tables (names as text, times absolute), and the checkpoint.
 */
export function oldRollupStatements(
  records: readonly RollupRecord[],
  series: readonly SeriesRecord[],
  checkpoint: number,
): SqlStatement[] {
  const scalars = (s: AggState) => [
    s.count,
    s.valueCount,
    s.sum,
    s.min,
    s.max,
    s.lastValue,
    s.lastTs,
    s.lastSeq,
    s.minTs,
    s.maxTs,
  ];
  return [
    ...records.map((r) => ({
      sql: `INSERT OR REPLACE INTO rollups (event_type, resolution, device_id, start, count, value_count, sum,
              min, max, last_value, last_ts, last_seq, min_ts, max_ts, sketch, devices)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      args: [
        r.eventType,
        r.resolution,
        r.deviceId ?? "",
        r.start,
        ...scalars(r.state),
        r.state.sketch,
        r.state.devices,
      ],
    })),
    ...series.map((s) => ({
      sql:
        `INSERT OR REPLACE INTO series (event_type, device_id, count, value_count, sum, min, max, last_value,
              last_ts, last_seq, min_ts, max_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      args: [s.eventType, s.deviceId ?? "", ...scalars(s.state)],
    })),
    {
      sql: "INSERT OR REPLACE INTO stream_state (name, value) VALUES ('rollup_checkpoint', ?)",
      args: [checkpoint],
    },
  ];
}

/**
 * Statements that put every bucket of `rollups_c` back into the old `rollups` table as the code
 * before migration 16 wrote it (names as text, absolute times), leaving `rollups_c` empty: a
 * database whose rollups all predate the upgrade.
 */
export const COMPACT_ROLLUPS_TO_OLD_LAYOUT: SqlStatement[] = [
  {
    sql: `INSERT INTO rollups (event_type, resolution, device_id, start, count, value_count, sum, min, max,
            last_value, last_ts, last_seq, min_ts, max_ts, sketch, devices)
          SELECT coalesce(t.name, CAST(c.event_type AS TEXT)), c.resolution,
            CASE WHEN c.device_id = -1 THEN '' ELSE coalesce(d.name, CAST(c.device_id AS TEXT)) END,
            c.bucket * c.resolution, c.count, c.value_count, c.sum, c.min, c.max, c.last_value,
            c.last_ts + c.bucket * c.resolution, c.last_seq, c.min_ts + c.bucket * c.resolution,
            c.max_ts + c.bucket * c.resolution, c.sketch, c.devices
          FROM rollups_c AS c
          LEFT JOIN event_dictionary AS t ON t.kind = ${kindNumber("type")} AND t.code = c.event_type
          LEFT JOIN event_dictionary AS d ON d.kind = ${kindNumber("device")} AND d.code = c.device_id`,
    args: [],
  },
  { sql: "DELETE FROM rollups_c", args: [] },
];
