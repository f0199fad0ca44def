/**
 * Migration 16: the compact rollup table `rollups_c` (rollup-layout.ts,
 * docs/STORAGE.md "Compact rollup rows"). It copies no bucket: flushes write
 * the new table from now on and move a bucket of the old one when they merge
 * into it, and retention expires the rest, so the start takes no longer
 * however many buckets the old table holds.
 *
 * It also gives a dictionary code to every event type and device id of the
 * `series` table (the names the old buckets carry) that has none yet, after
 * the codes in use, in name order, up to the caps: an old bucket's place in
 * the export's key order (the stored form of its names) then never changes
 * later, when a new event would have handed its name a code.
 */
import { DEFAULT_DICTIONARY_CAPS, kindNumber, type NameKind } from "./event-dictionary.ts";
import type { Migration } from "./migrations.ts";
import { ALL_DEVICES } from "./sqlite-rows.ts";
import { ROLLUPS_C_DDL } from "./rollup-layout.ts";

export const compactRollupsMigration: Migration = {
  version: 16,
  name: "compact rollup rows: dictionary codes, bucket numbers, times relative to the bucket",
  sql: "",
  async plan(driver) {
    const sql = [ROLLUPS_C_DDL];
    const kinds: [NameKind, string][] = [["type", "event_type"], ["device", "device_id"]];
    for (const [kind, column] of kinds) {
      const k = kindNumber(kind);
      const [{ next }] = await driver.all<{ next: number }>(
        "SELECT coalesce(max(code) + 1, 0) AS next FROM event_dictionary WHERE kind = ?",
        [k],
      );
      const room = DEFAULT_DICTIONARY_CAPS[kind] - next;
      if (room <= 0) continue;
      sql.push(
        `INSERT INTO event_dictionary (kind, code, name)
          SELECT ${k}, ${next} + row_number() OVER (ORDER BY name) - 1, name FROM (
            SELECT DISTINCT ${column} AS name FROM series
              WHERE ${column} != '${ALL_DEVICES}'
                AND ${column} NOT IN (SELECT name FROM event_dictionary WHERE kind = ${k}))
          ORDER BY name LIMIT ${room}`,
      );
    }
    return sql;
  },
};
