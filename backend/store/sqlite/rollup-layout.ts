/**
 * The two tables rollup buckets live in (docs/STORAGE.md "Compact rollup rows"):
 * - `rollups_c` (migration 16), where every flush writes: the event type and
 *   device as dictionary codes of `event_dictionary` (or the name's UTF-8
 *   bytes when its kind's codes are used up, as in the raw rows), the
 *   all-device series as device `-1`, `start` as the bucket number
 *   (`start / resolution`), and `last_ts`, `min_ts`, `max_ts` relative to
 *   the bucket's start;
 * - `rollups` (migration 5), names as text and absolute times, which nothing
 *   writes any more: a flush that merges into one of its buckets moves it
 *   (deletes it there and writes the merged row to `rollups_c` in the same
 *   transaction), and retention expires the rest.
 * A bucket is in exactly one of them; every read takes both until the old one
 * is empty (`OldRollups`). Rows of both are read under the old table's column
 * names (`COMPACT_ROW`), so one row mapping serves both.
 */
import type { AggState } from "../../stream/aggregate.ts";
import type { RollupRecord } from "../store.ts";
import type { EventDictionary } from "./event-dictionary.ts";
import { ALL_DEVICES, type RollupRow, stateArgs, toState } from "./sqlite-rows.ts";
import type { SqlDriver, SqlStatement, SqlValue } from "./sql-driver.ts";

/** The stored form of a name in `rollups_c`: a dictionary code, or the name's UTF-8 bytes. */
export type StoredName = number | Uint8Array;
/** The device column of the all-device series in `rollups_c` (codes are never negative). */
export const ALL_DEVICES_CODE = -1;

/** The absolute start of a `rollups_c` row. */
const START = "bucket * resolution";
/** A `rollups_c` row's scalar columns, under the old table's names and with absolute times. */
export const COMPACT_SCALARS =
  `count, value_count, sum, min, max, last_value, last_ts + ${START} AS last_ts, last_seq, min_ts + ${START} AS min_ts, max_ts + ${START} AS max_ts`;
/** A whole `rollups_c` row as the old table's row (names still in their stored form). */
export const COMPACT_ROW =
  `event_type, resolution, device_id, ${START} AS start, ${COMPACT_SCALARS}, sketch, devices`;
export const COMPACT_START = `${START} AS start`;

export const ROLLUPS_C_DDL = `CREATE TABLE rollups_c (
  event_type  INTEGER NOT NULL,
  resolution  INTEGER NOT NULL,
  device_id   INTEGER NOT NULL,
  bucket      INTEGER NOT NULL,
  count       INTEGER NOT NULL,
  value_count INTEGER NOT NULL,
  sum         REAL    NOT NULL,
  min         REAL,
  max         REAL,
  last_value  REAL,
  last_ts     INTEGER,
  last_seq    INTEGER,
  min_ts      INTEGER,
  max_ts      INTEGER,
  sketch      BLOB,
  devices     BLOB,
  PRIMARY KEY (event_type, resolution, device_id, bucket)
) WITHOUT ROWID`;

/** The bucket number of `start`; buckets are aligned to their resolution (the engine's `ts - ts mod r`). */
export function bucketOf(start: number, resolution: number): number {
  const bucket = start / resolution;
  if (!Number.isInteger(bucket)) {
    throw new RangeError(`rollup bucket start ${start} is not a multiple of its resolution ${resolution}`);
  }
  return bucket;
}

/** The first bucket number whose start is at or after `t`. */
export const firstBucketFrom = (t: number, resolution: number) => Math.ceil(t / resolution);

/** Names of rollup keys to and from their stored form in `rollups_c`. */
export class RollupNames {
  constructor(readonly dictionary: EventDictionary) {}

  /**
   * The stored form of an event type: for a read (`write` false) a name without a code is its
   * bytes; for a write a code is handed out first while the kind has room.
   */
  type(eventType: string, write = false): StoredName {
    return write ? this.dictionary.encode("type", eventType) : this.dictionary.lookup("type", eventType);
  }

  /** The stored form of a device id (as `type`); the all-device series (null or '') is -1. */
  device(deviceId: string | null, write = false): StoredName {
    if (deviceId === null || deviceId === ALL_DEVICES) return ALL_DEVICES_CODE;
    return write ? this.dictionary.encode("device", deviceId) : this.dictionary.lookup("device", deviceId);
  }

  /** A row of either table as a record (the old table's names are text and pass as they are). */
  toRecord(row: RollupRow): RollupRecord {
    // No copy of the row: this runs for every bucket an export or a query reads.
    const stored = row as unknown as { event_type: unknown; device_id: unknown };
    const device = stored.device_id === ALL_DEVICES_CODE
      ? ALL_DEVICES
      : this.dictionary.name("device", stored.device_id);
    return {
      resolution: row.resolution,
      eventType: this.dictionary.name("type", stored.event_type) ?? "",
      deviceId: device === ALL_DEVICES || device === undefined ? null : device,
      start: row.start,
      state: toState(row),
    };
  }
}

/** Most rows in one multi-row rollup write (16 arguments each). */
const WRITE_ROWS = 64;
const writeSql = new Map<number, string>();

/** A bucket to write: its stored key and merged state. */
export interface BucketWrite {
  key: { eventType: StoredName; resolution: number; device: StoredName; start: number };
  state: AggState;
}

/**
 * The statements that write merged buckets to `rollups_c` (insert, or replace their rows there),
 * up to `WRITE_ROWS` rows each in power-of-two sizes (few SQL texts to cache): one statement per
 * bucket cost the writer a step, and the hand-off a copy of the SQL text, per bucket. The keys
 * must be distinct (a flush holds one delta per bucket).
 */
export function compactWrites(buckets: readonly BucketWrite[]): SqlStatement[] {
  const out: SqlStatement[] = [];
  for (let at = 0; at < buckets.length;) {
    let n = WRITE_ROWS;
    while (n > buckets.length - at) n >>= 1;
    let sql = writeSql.get(n);
    if (sql === undefined) {
      writeSql.set(
        n,
        sql =
          `INSERT OR REPLACE INTO rollups_c (event_type, resolution, device_id, bucket, count, value_count,
            sum, min, max, last_value, last_ts, last_seq, min_ts, max_ts, sketch, devices)
          VALUES ${Array(n).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
      );
    }
    const args: SqlValue[] = [];
    for (let k = at; k < at + n; k++) pushBucket(args, buckets[k]);
    out.push({ sql, args });
    at += n;
  }
  return out;
}

function pushBucket(out: SqlValue[], { key, state }: BucketWrite): void {
  const rel = (t: number | null) => t === null ? null : t - key.start;
  const args = stateArgs(state);
  args[6] = rel(state.lastTs);
  args[8] = rel(state.minTs);
  args[9] = rel(state.maxTs);
  out.push(key.eventType, key.resolution, key.device, bucketOf(key.start, key.resolution), ...args);
  out.push(state.sketch, state.devices);
}

/** SQLite's order of two stored names: integers before BLOBs, BLOBs by their bytes, then length. */
export function compareStored(a: StoredName, b: StoredName): number {
  if (typeof a === "number") return typeof b === "number" ? a - b : -1;
  if (typeof b === "number") return 1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * Whether the old `rollups` table still holds buckets. Checked at open and after each expiry; once
 * it is empty it stays so (nothing writes there), and reads skip it.
 */
export class OldRollups {
  #present = true;
  /** Bumped whenever the old table loses rows, so cached lists of its series can be rechecked. */
  generation = 0;

  private constructor(private readonly driver: SqlDriver) {}

  static async open(driver: SqlDriver): Promise<OldRollups> {
    const old = new OldRollups(driver);
    await old.recheck();
    return old;
  }

  get present(): boolean {
    return this.#present;
  }

  async recheck(): Promise<void> {
    if (!this.#present) return;
    const rows = await this.driver.all<{ one: number }>("SELECT 1 AS one FROM rollups LIMIT 1");
    this.#present = rows.length > 0;
    this.generation++;
  }
}
