/**
 * Migration 7: the single `events` table of migrations 1–6 becomes day
 * partitions plus the global dedup table `event_ids` (docs/STORAGE.md). The
 * statements depend on which days the old table holds, so they are planned from
 * the database; the migration runner applies them in one transaction with the
 * `schema_migrations` row, so a crash leaves either the old layout or the new.
 * Moving rows is a one-off copy (the old table is read once per day through its
 * `ts` index, then dropped).
 */
import { DAY_MS, partitionTable } from "./event-partitions.ts";
import type { Migration } from "./migrations.ts";

/** The columns of a partition as migration 7 made them (migration 14 converts them). */
export const V7_EVENT_FIELDS =
  "seq, id, device_id, event_type, value, ts, received_at, partition, metadata, data";

/** The columns of the raw event table of migration 1, which migration 7's partitions kept. */
export const V1_EVENT_COLUMNS = `
      seq         INTEGER PRIMARY KEY,
      id          TEXT    NOT NULL,
      device_id   TEXT    NOT NULL,
      event_type  TEXT    NOT NULL,
      value       REAL,
      ts          INTEGER NOT NULL,
      received_at INTEGER NOT NULL,
      partition   INTEGER NOT NULL,
      metadata    TEXT,
      data        TEXT`;

/** A day partition as migration 7 made it: frozen, since a released migration never changes. */
export function v7PartitionDdl(day: number): string[] {
  const t = partitionTable(day);
  return [
    `CREATE TABLE IF NOT EXISTS ${t} (${V1_EVENT_COLUMNS})`,
    `CREATE INDEX IF NOT EXISTS ${t}_ts ON ${t} (ts)`,
    `CREATE INDEX IF NOT EXISTS ${t}_device_ts ON ${t} (device_id, ts)`,
  ];
}

/** SQL raising the seq floor (`stream_state.seq_floor`) to the highest seq in `table`. */
export function seqFloorFromSql(table: string): string {
  return `INSERT INTO stream_state (name, value) SELECT 'seq_floor', seq FROM ${table} WHERE true ORDER BY seq DESC LIMIT 1
    ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`;
}

export const partitionMigration: Migration = {
  version: 7,
  name: "day partitions of raw events and the event id table",
  sql: "",
  async plan(driver) {
    const days = await driver.all<{ day: number }>(
      `SELECT DISTINCT ts / ${DAY_MS} AS day FROM events ORDER BY day`,
    );
    const sql = [
      // (id → day, seq): the dedup arbiter and the way from an id to its partition row.
      "CREATE TABLE event_ids (id TEXT PRIMARY KEY, day INTEGER NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID",
    ];
    for (const { day } of days) {
      sql.push(...v7PartitionDdl(day));
      sql.push(
        `INSERT INTO ${partitionTable(day)} (${V7_EVENT_FIELDS}) SELECT ${V7_EVENT_FIELDS} FROM events
          WHERE ts >= ${day * DAY_MS} AND ts < ${(day + 1) * DAY_MS} ORDER BY seq`,
      );
    }
    sql.push(
      `INSERT INTO event_ids (id, day, seq) SELECT id, ts / ${DAY_MS}, seq FROM events`,
      seqFloorFromSql("events"),
      "DROP TABLE events",
    );
    return sql;
  },
};
