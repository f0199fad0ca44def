/**
 * The export's walk over the rollup buckets (`StorageLifecycle.scanRollups`)
 * in the order of `rollups_c`'s key: event type, resolution, device (the
 * all-device series first), bucket — names in their stored form (dictionary
 * codes in the order they were handed out, then the names without a code by
 * their bytes; rollup-layout.ts). A page is one search of that key from where
 * the last page ended. While the old `rollups` table still holds buckets, its
 * series are put in the same order (their names' stored forms) and read one
 * search per series, and the two are merged, so a bucket that a flush moves
 * between two pages keeps its place and is written once.
 */
import type { RollupRecord } from "../store.ts";
import type { StorageLifecycle } from "../storage-store.ts";
import {
  ALL_DEVICES_CODE,
  COMPACT_ROW,
  compareStored,
  firstBucketFrom,
  type OldRollups,
  type RollupNames,
  type StoredName,
} from "./rollup-layout.ts";
import { ALL_DEVICES, type RollupRow } from "./sqlite-rows.ts";
import type { SqlDriver, SqlValue } from "./sql-driver.ts";

type ScanQuery = Parameters<StorageLifecycle["scanRollups"]>[0];

/** A series of the old table, with its names' stored forms when it was last sorted. */
interface OldSeries {
  eventType: string;
  device: string;
  key: [StoredName, StoredName];
}

interface KeyedRow {
  key: [StoredName, StoredName];
  row: RollupRow;
}

const OLD_ROW =
  "event_type, resolution, device_id, start, count, value_count, sum, min, max, last_value, last_ts, last_seq, min_ts, max_ts, sketch, devices";

const compareSeries = (a: [StoredName, StoredName], b: [StoredName, StoredName]) =>
  compareStored(a[0], b[0]) || compareStored(a[1], b[1]);
const compareRows = (a: KeyedRow, b: KeyedRow) => compareSeries(a.key, b.key) || a.row.start - b.row.start;

export function rollupScan(
  driver: SqlDriver,
  tables: { names: RollupNames; old: OldRollups },
): StorageLifecycle["scanRollups"] {
  const { names, old } = tables;
  /** The old table's series per resolution, sorted by stored key; rebuilt when names or rows changed. */
  const oldSeries = new Map<number, { series: OldSeries[]; names: number; generation: number }>();
  const dictionarySize = () => names.dictionary.size("type") + names.dictionary.size("device");

  const listOldSeries = async (resolution: number): Promise<OldSeries[]> => {
    let cached = oldSeries.get(resolution);
    if (!cached || cached.generation !== old.generation) {
      // One search of the key per series (a skip scan), not a pass over the buckets.
      const series: OldSeries[] = [];
      let [cmp, at] = [">=", ["", resolution, ""] as SqlValue[]];
      for (;;) {
        const next = await driver.all<{ event_type: string; resolution: number; device_id: string }>(
          `SELECT event_type, resolution, device_id FROM rollups WHERE (event_type, resolution, device_id) ${cmp} (?, ?, ?)
            ORDER BY event_type, resolution, device_id LIMIT 1`,
          at,
        );
        if (!next.length) break;
        const [{ event_type, resolution: r, device_id }] = next;
        if (r === resolution) series.push({ eventType: event_type, device: device_id, key: [0, 0] });
        // Past this series; to this type's series of `resolution`; or past this type.
        [cmp, at] = r === resolution
          ? [">", [event_type, r, device_id]]
          : r < resolution
          ? [">=", [event_type, resolution, ""]]
          : [">", [event_type, Number.MAX_SAFE_INTEGER, ""]];
      }
      cached = { series, names: -1, generation: old.generation };
      oldSeries.set(resolution, cached);
    }
    if (cached.names !== dictionarySize()) {
      for (const s of cached.series) s.key = [names.type(s.eventType), names.device(s.device)];
      cached.series.sort((a, b) => compareSeries(a.key, b.key));
      cached.names = dictionarySize();
    }
    return cached.series;
  };

  /** The old table's first `limit` buckets after `at` in key order, none past `until`'s series. */
  const oldRows = async (
    query: ScanQuery,
    at: { key: [StoredName, StoredName]; start: number; inclusive: boolean },
    until: [StoredName, StoredName] | null,
  ): Promise<KeyedRow[]> => {
    const out: KeyedRow[] = [];
    const series = await listOldSeries(query.resolution);
    // The first series at or after the position (binary search: the list is sorted).
    let lo = 0;
    for (let hi = series.length; lo < hi;) {
      const mid = (lo + hi) >> 1;
      if (compareSeries(series[mid].key, at.key) < 0) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < series.length && out.length < query.limit; i++) {
      const s = series[i];
      if (until && compareSeries(s.key, until) > 0) break;
      if (query.eventType !== undefined && s.eventType !== query.eventType) continue;
      if (query.deviceId !== undefined && s.device !== (query.deviceId ?? ALL_DEVICES)) continue;
      const same = compareSeries(s.key, at.key) === 0;
      const rows = await driver.all<RollupRow>(
        `SELECT ${OLD_ROW} FROM rollups
          WHERE event_type = ? AND resolution = ? AND device_id = ? AND start >= ? AND start < ?
            AND start ${same && !at.inclusive ? ">" : ">="} ? ORDER BY start LIMIT ?`,
        [
          s.eventType,
          query.resolution,
          s.device,
          query.from,
          query.to,
          same ? at.start : Number.MIN_SAFE_INTEGER,
          query.limit - out.length,
        ],
      );
      for (const row of rows) out.push({ key: s.key, row });
    }
    return out;
  };

  return async (query) => {
    const res = query.resolution;
    // Each page starts with a search of the key where the last one ended (the keyset is the whole
    // key, or what the filters leave of it) and walks the key in order: one pass over the tier for
    // the whole export. `+resolution` keeps the equality from being taken for the key's second
    // column, which made SQLite sort every bucket of the current event type for each page.
    const cmp = query.after ? ">" : ">=";
    const at = query.after
      ? {
        key: [names.type(query.after.eventType), names.device(query.after.deviceId)] as [
          StoredName,
          StoredName,
        ],
        start: query.after.start,
      }
      : { key: [-1, ALL_DEVICES_CODE] as [StoredName, StoredName], start: Number.MIN_SAFE_INTEGER };
    const bucket = query.after ? Math.floor(at.start / res) : Number.MIN_SAFE_INTEGER;
    const where = ["bucket >= ?", "bucket < ?"];
    const args: SqlValue[] = [firstBucketFrom(query.from, res), firstBucketFrom(query.to, res)];
    if (query.eventType !== undefined && query.deviceId !== undefined) {
      where.push("event_type = ?", "resolution = ?", "device_id = ?", `bucket ${cmp} ?`);
      args.push(names.type(query.eventType), res, names.device(query.deviceId), bucket);
    } else if (query.eventType !== undefined) {
      where.push("event_type = ?", "+resolution = ?", `(resolution, device_id, bucket) ${cmp} (?, ?, ?)`);
      args.push(names.type(query.eventType), res, res, at.key[1], bucket);
    } else {
      where.push("+resolution = ?", `(event_type, resolution, device_id, bucket) ${cmp} (?, ?, ?, ?)`);
      args.push(res, at.key[0], res, at.key[1], bucket);
      if (query.deviceId !== undefined) {
        where.push("+device_id = ?");
        args.push(names.device(query.deviceId));
      }
    }
    const compact = await driver.all<RollupRow>(
      `SELECT ${COMPACT_ROW} FROM rollups_c WHERE ${where.join(" AND ")}
        ORDER BY event_type, resolution, device_id, bucket LIMIT ?`,
      [...args, query.limit],
    );
    if (!old.present) return compact.map((row) => names.toRecord(row));
    const keyed = compact.map((row): KeyedRow => ({
      key: [row.event_type as unknown as StoredName, row.device_id as unknown as StoredName],
      row,
    }));
    // A full page of the new table ends the old table's part of the page at its last series.
    const until = keyed.length === query.limit ? keyed[keyed.length - 1].key : null;
    const merged = [...keyed, ...await oldRows(query, { ...at, inclusive: !query.after }, until)];
    return merged.sort(compareRows).slice(0, query.limit).map(({ row }): RollupRecord => names.toRecord(row));
  };
}
