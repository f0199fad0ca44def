/**
 * The day partitions of raw events (docs/STORAGE.md). Each UTC day of event
 * time has its own table `events_YYYYMMDD` (seq is the rowid; indexes on the
 * time and on (device, time); rows encoded by event-encoding.ts); the exact
 * dedup arbiter is one global table `event_ids` (id → day, seq). This file knows the names and DDL, and keeps the set of
 * readable partitions with their highest seq in memory: this process is the
 * database's only writer, so the set is exact.
 */
import { ID_COLUMNS_SQL, ID_SQL, ROW_COLUMNS, ROW_VALUES } from "./event-encoding.ts";
import type { SqlDriver, SqlStatement, SqlValue } from "./sql-driver.ts";

export const DAY_MS = 86_400_000;

/** The UTC day number (days since the epoch) of an epoch-ms time. */
export function dayOf(ts: number): number {
  return Math.floor(ts / DAY_MS);
}

/** `events_20261122` for the day of 2026-11-22. */
export function partitionTable(day: number): string {
  return `events_${isoDay(day).replaceAll("-", "")}`;
}

/** A retired partition waiting for its ids to be forgotten and its table dropped. */
export function retiredTable(day: number): string {
  return `retired_${partitionTable(day)}`;
}

/** `2026-11-22`. */
export function isoDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** `events_20261122` / `retired_events_20261122` → day number, or null. */
export function parsePartitionName(name: string): { day: number; retired: boolean } | null {
  const m = /^(retired_)?events_(\d{4})(\d{2})(\d{2})$/.exec(name);
  if (!m) return null;
  const ms = Date.UTC(Number(m[2]), Number(m[3]) - 1, Number(m[4]));
  return Number.isFinite(ms) ? { day: ms / DAY_MS, retired: m[1] !== undefined } : null;
}

/**
 * DDL creating a day partition (idempotent), in the compact layout of migration 14
 * (event-encoding.ts): `ms` is the event time since the day's start, `lag` receivedAt − timestamp;
 * `device`, `type` and `metadata` hold a dictionary code or the name's bytes (event-dictionary.ts);
 * `id` and `data` have no declared type, so SQLite never converts what is stored there (text, or
 * the bytes of a UUID or of a compressed payload).
 */
export function partitionDdl(day: number): string[] {
  const t = partitionTable(day);
  return [
    `CREATE TABLE IF NOT EXISTS ${t} (
      seq       INTEGER PRIMARY KEY,
      ms        INTEGER NOT NULL,
      device    INTEGER NOT NULL,
      type      INTEGER NOT NULL,
      value     REAL,
      lag       INTEGER NOT NULL,
      partition INTEGER NOT NULL,
      id                NOT NULL,
      metadata  INTEGER,
      data
    )`,
    `CREATE INDEX IF NOT EXISTS ${t}_ms ON ${t} (ms)`,
    `CREATE INDEX IF NOT EXISTS ${t}_device_ms ON ${t} (device, ms)`,
  ];
}

/** The B-trees of a day partition (for sizes). */
export function partitionTrees(day: number): string[] {
  const t = partitionTable(day);
  return [t, `${t}_ms`, `${t}_device_ms`];
}

/** The columns of an engine point (`PointRow`) read from the partition of `day`. */
export function pointColumns(day: number): string {
  return `seq, ms + ${day * DAY_MS} AS ts, device, type, value, lag, partition`;
}

/** The columns of a whole event (`EventRow`) read from the partition of `day`. */
export function eventColumns(day: number): string {
  return `${pointColumns(day)}, ${ID_COLUMNS_SQL}, metadata, data`;
}

const sqlCache = new Map<string, string>();
const cached = (key: string, build: () => string) => {
  let sql = sqlCache.get(key);
  if (sql === undefined) sqlCache.set(key, sql = build());
  return sql;
};

/** Claims `n` ids (`ID_SQL`, day, seq); changes one row per id that was new and returns its seq. */
export function claimSql(n: number): string {
  return cached(
    `claim ${n}`,
    () =>
      `INSERT INTO event_ids (id, day, seq) VALUES ${
        Array(n).fill(`(${ID_SQL}, ?, ?)`).join(", ")
      } ON CONFLICT (id) DO NOTHING RETURNING seq`,
  );
}

/**
 * Inserts `n` rows (`ROW_VALUES`, then one more argument, `all`) into the day's partition, each only
 * if its own claim holds (`event_ids` has its id with its seq): a duplicate's claim did not change
 * that row, so it is left out. Run right after the claims of exactly these rows, `all` = n skips
 * the check when those claims changed n rows (every id was new); otherwise pass -1.
 */
export function insertRowsSql(day: number, n: number): string {
  return cached(`rows ${day} ${n}`, () =>
    `INSERT INTO ${partitionTable(day)} (${ROW_COLUMNS})
      SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9, column10
      FROM (VALUES ${Array(n).fill(ROW_VALUES).join(", ")}) AS v
      WHERE changes() = ? OR EXISTS (SELECT 1 FROM event_ids WHERE id = v.column8 AND seq = v.column1)`);
}

/** Most rows in one multi-row statement. */
const MAX_CHUNK = 256;

/** [from, n] slices of [start, start + count) with n a power of two <= MAX_CHUNK, in order. */
export function chunks(start: number, count: number): [number, number][] {
  const out: [number, number][] = [];
  let at = start;
  let left = count;
  while (left > 0) {
    let n = MAX_CHUNK;
    while (n > left) n >>= 1;
    out.push([at, n]);
    at += n;
    left -= n;
  }
  return out;
}

/** The readable partitions (ascending days) and the highest seq each holds. */
export class PartitionSet {
  readonly #maxSeq = new Map<number, number>();
  #sorted: number[] | null = [];

  /**
   * Reads the partitions that exist (`retired_` ones are not readable). `retiredMaxSeq` is the
   * highest seq still in a retired table: a drop interrupted before its seq floor was written must
   * not let its seqs be handed out again.
   */
  static async load(
    driver: SqlDriver,
  ): Promise<{ set: PartitionSet; retired: number[]; retiredMaxSeq: number }> {
    const set = new PartitionSet();
    const retired: number[] = [];
    let retiredMaxSeq = 0;
    const rows = await driver.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND (name GLOB 'events_*' OR name GLOB 'retired_events_*')",
    );
    for (const { name } of rows) {
      const p = parsePartitionName(name);
      if (!p) continue;
      const [{ top }] = await driver.all<{ top: number | null }>(`SELECT max(seq) AS top FROM ${name}`);
      if (p.retired) {
        retired.push(p.day);
        retiredMaxSeq = Math.max(retiredMaxSeq, top ?? 0);
        continue;
      }
      set.add(p.day, top ?? 0);
    }
    return { set, retired: retired.sort((a, b) => a - b), retiredMaxSeq };
  }

  /** Replaces the days and seqs with what the database holds now (a reader beside the writer). */
  async reload(driver: SqlDriver): Promise<void> {
    const { set } = await PartitionSet.load(driver);
    this.#maxSeq.clear();
    for (const [day, seq] of set.#maxSeq) this.#maxSeq.set(day, seq);
    this.#sorted = null;
  }

  has(day: number): boolean {
    return this.#maxSeq.has(day);
  }

  add(day: number, maxSeq = 0): void {
    if (!this.#maxSeq.has(day)) this.#sorted = null;
    this.#maxSeq.set(day, Math.max(maxSeq, this.#maxSeq.get(day) ?? 0));
  }

  delete(day: number): void {
    if (this.#maxSeq.delete(day)) this.#sorted = null;
  }

  noteSeq(day: number, seq: number): void {
    const top = this.#maxSeq.get(day);
    if (top !== undefined && seq > top) this.#maxSeq.set(day, seq);
  }

  /** Highest seq of the readable partition of `day`, or undefined if there is none. */
  maxSeqOf(day: number): number | undefined {
    return this.#maxSeq.get(day);
  }

  /** Highest seq in any readable partition (0 when none). */
  maxSeq(): number {
    let top = 0;
    for (const s of this.#maxSeq.values()) top = Math.max(top, s);
    return top;
  }

  /** Days in ascending order. */
  days(): readonly number[] {
    return this.#sorted ??= [...this.#maxSeq.keys()].sort((a, b) => a - b);
  }

  /** Days whose time range meets [from, to) (either bound optional), ascending. */
  overlapping(from?: number, to?: number): number[] {
    return this.days().filter((d) =>
      (from === undefined || (d + 1) * DAY_MS > from) && (to === undefined || d * DAY_MS < to)
    );
  }

  /** Days holding a seq above `afterSeq`, ascending. */
  withSeqAbove(afterSeq: number): number[] {
    return this.days().filter((d) => (this.#maxSeq.get(d) ?? 0) > afterSeq);
  }
}

/**
 * One query over several partitions in seq order: each arm (its columns, condition and arguments
 * per day, since times are stored relative to the day) is bounded by `limit` and ordered by seq,
 * and the compound is merged by seq (SQLite merges ordered arms).
 */
export function seqOrderedUnion(
  days: readonly number[],
  arm: (day: number) => { columns: string; where: string; args: SqlValue[]; byTime?: boolean },
  limit: number,
): SqlStatement {
  const sql: string[] = [];
  const args: SqlValue[] = [];
  for (const d of days) {
    const a = arm(d);
    // `+seq` (an expression, not the rowid) keeps SQLite from walking the whole table in rowid order
    // to skip the rows outside a time range: it searches the time index and sorts what it found.
    sql.push(
      `SELECT * FROM (SELECT ${a.columns} FROM ${partitionTable(d)} WHERE ${a.where} ORDER BY ${
        a.byTime ? "+seq" : "seq"
      } LIMIT ?)`,
    );
    args.push(...a.args, limit);
  }
  args.push(limit);
  return { sql: `${sql.join(" UNION ALL ")} ORDER BY seq LIMIT ?`, args };
}
