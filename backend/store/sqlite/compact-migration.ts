/**
 * Migration 14: the day partitions of migration 7 take the compact layout of
 * event-encoding.ts (docs/STORAGE.md "Compact rows"). Planned from the
 * database, applied by the runner in one transaction with its
 * `schema_migrations` row, so a crash leaves the old layout or the new one:
 * 1. the dictionary gets a code for every device id, event type and tag set
 *    (JSON of at most `MAX_INTERNED_TAGS_LENGTH` chars) the partitions hold, in
 *    name order, up to the caps; the rest stays inline, as at run time;
 * 2. each partition is copied into a new table of the same name, converting
 *    every column (canonical lowercase UUIDs to their bytes, names to codes,
 *    times relative to the day), then its indexes are built;
 * 3. `event_ids` is rebuilt with the ids converted the same way;
 * 4. a drop interrupted by a crash (`retired_…`) is finished: its highest seq
 *    goes into the seq floor and its table and ids are left out.
 * Payloads are copied as they are (JSON text); new ones are compressed.
 */
import {
  DEFAULT_DICTIONARY_CAPS,
  DICTIONARY_DDL,
  kindNumber,
  MAX_INTERNED_TAGS_LENGTH,
} from "./event-dictionary.ts";
import { ROW_COLUMNS } from "./event-encoding.ts";
import { DAY_MS, parsePartitionName, partitionDdl, partitionTable } from "./event-partitions.ts";
import type { Migration } from "./migrations.ts";
import { seqFloorFromSql } from "./partition-migration.ts";

const H = "[0-9a-f]";
/** The ids `pushId` stores as bytes, as a GLOB pattern (case-sensitive, exactly 36 chars). */
const UUID_GLOB = `${H.repeat(8)}-${H.repeat(4)}-${H.repeat(4)}-${H.repeat(4)}-${H.repeat(12)}`;
const storedId = (column: string) =>
  `CASE WHEN ${column} GLOB '${UUID_GLOB}' THEN unhex(${column}, '-') ELSE ${column} END`;

export const compactMigration: Migration = {
  version: 14,
  name: "compact raw event rows: dictionary codes, UUIDs as bytes, times relative to the day",
  sql: "",
  async plan(driver) {
    const names = await driver.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND (name GLOB 'events_*' OR name GLOB 'retired_events_*')",
    );
    const live: number[] = [];
    const retired: string[] = [];
    for (const { name } of names) {
      const p = parsePartitionName(name);
      if (p?.retired) retired.push(name);
      else if (p) live.push(p.day);
    }
    live.sort((a, b) => a - b);
    const old = (day: number) => `v7_${partitionTable(day)}`;
    const sql = [DICTIONARY_DDL];
    for (const day of live) sql.push(`ALTER TABLE ${partitionTable(day)} RENAME TO ${old(day)}`);
    const kinds = [
      ["device", "device_id", "true"],
      ["type", "event_type", "true"],
      ["tags", "metadata", `metadata IS NOT NULL AND length(metadata) <= ${MAX_INTERNED_TAGS_LENGTH}`],
    ] as const;
    if (live.length > 0) {
      for (const [kind, column, where] of kinds) {
        const union = live.map((d) => `SELECT ${column} AS name FROM ${old(d)} WHERE ${where}`).join(
          " UNION ",
        );
        sql.push(
          `INSERT INTO event_dictionary (kind, code, name)
            SELECT ${kindNumber(kind)}, row_number() OVER (ORDER BY name) - 1, name FROM (${union})
            ORDER BY name LIMIT ${DEFAULT_DICTIONARY_CAPS[kind]}`,
        );
      }
    }
    // Only for the copies below: at run time the dictionary is looked up in memory.
    sql.push("CREATE INDEX event_dictionary_name ON event_dictionary (kind, name)");
    for (const day of live) {
      const [table, ...indexes] = partitionDdl(day);
      sql.push(
        table,
        `INSERT INTO ${partitionTable(day)} (${ROW_COLUMNS})
          SELECT o.seq, o.ts - ${day * DAY_MS}, coalesce(dv.code, CAST(o.device_id AS BLOB)),
            coalesce(ty.code, CAST(o.event_type AS BLOB)), o.value, o.received_at - o.ts, o.partition,
            ${
          storedId("o.id")
        }, CASE WHEN o.metadata IS NULL THEN NULL ELSE coalesce(tg.code, CAST(o.metadata AS BLOB)) END,
            o.data
          FROM ${old(day)} AS o
          LEFT JOIN event_dictionary AS dv ON dv.kind = ${kindNumber("device")} AND dv.name = o.device_id
          LEFT JOIN event_dictionary AS ty ON ty.kind = ${kindNumber("type")} AND ty.name = o.event_type
          LEFT JOIN event_dictionary AS tg ON tg.kind = ${kindNumber("tags")} AND tg.name = o.metadata
          ORDER BY o.seq`,
        ...indexes,
        `DROP TABLE ${old(day)}`,
      );
    }
    sql.push(
      "DROP INDEX event_dictionary_name",
      "CREATE TABLE event_ids_v14 (id PRIMARY KEY, day INTEGER NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID",
      `INSERT INTO event_ids_v14 (id, day, seq) SELECT ${storedId("id")}, day, seq FROM event_ids
        WHERE day IN (${live.join(", ")})`,
      "DROP TABLE event_ids",
      "ALTER TABLE event_ids_v14 RENAME TO event_ids",
    );
    for (const table of retired) {
      sql.push(seqFloorFromSql(table), `DROP TABLE ${table}`);
    }
    return sql;
  },
};
