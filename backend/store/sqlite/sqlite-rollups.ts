/**
 * The rollup side of the SQLite store: merging the stream engine's flushes
 * into stored buckets with the checkpoint, reading buckets (rows, or cached
 * scalar columns), and the per-series totals. Spread into the store by
 * `sqlite-store.ts`; this process is the only writer of these tables.
 * Buckets live in `rollups_c`, or in the old `rollups` table until a flush
 * moves or retention expires them (rollup-layout.ts); reads take both.
 */
import { type AggState, mergeStates, SCALAR_FIELDS } from "../../stream/aggregate.ts";
import type { RollupColumns, RollupRecord, RollupSlots, SeriesRecord, Store } from "../store.ts";
import { CHUNK_SLOTS, RollupColumnCache } from "./rollup-cache.ts";
import { ALL_DEVICES, type RollupRow, type SeriesRow, stateArgs, toState } from "./sqlite-rows.ts";
import {
  bucketOf,
  type BucketWrite,
  COMPACT_ROW,
  COMPACT_SCALARS,
  COMPACT_START,
  compactWrites,
  firstBucketFrom,
  type OldRollups,
  type RollupNames,
} from "./rollup-layout.ts";
import type { SqlDriver, SqlStatement, SqlValue } from "./sql-driver.ts";
import { checkpointStatement, settleGuardStatement, settleStatement } from "./sqlite-dead-letters.ts";

const SCALAR_COLUMNS = "count, value_count, sum, min, max, last_value, last_ts, last_seq, min_ts, max_ts";
const ROLLUP_KEY = "event_type, resolution, device_id, start";
const CHECKPOINT = "rollup_checkpoint";
/** The slots of a field not asked for. */
const NO_SLOTS = new Float64Array(0);
/** Longest stretch of rollup-flush work between yields to the event loop, ms. */
const FLUSH_SLICE_MS = 4;
/** Keys per lookup query of a flush (5 parameters each, far below SQLite's 32,766). */
const LOOKUP_KEYS = 500;

type RollupMethods = Pick<
  Store,
  | "applyRollupFlush"
  | "readRollupColumns"
  | "readRollupSlots"
  | "rollupCheckpoint"
  | "readRollups"
  | "readRollupsEndingAfter"
  | "listSeries"
>;

/** The rollup methods of the store, and a way to drop cached columns after buckets were deleted. */
export interface SqliteRollups extends RollupMethods {
  forgetCached(): void;
}

/** Merges rows of the two tables (disjoint sets of buckets) into start order. */
const byStart = (rows: RollupRow[]) => rows.sort((a, b) => a.start - b.start);

export function sqliteRollups(
  driver: SqlDriver,
  options: { cacheBytes: number; names: RollupNames; old: OldRollups },
): SqliteRollups {
  const { names, old } = options;
  /**
   * Rows of one series with start in [from, to) from both tables, in start order; `columns` of the
   * compact table and of the old one.
   */
  const seriesRows = async (
    columns: [compact: string, old: string],
    key: { eventType: string; resolution: number; device: string; from: number; to: number },
  ) => {
    const res = key.resolution;
    const rows = await driver.all<RollupRow>(
      `SELECT ${columns[0]} FROM rollups_c
        WHERE event_type = ? AND resolution = ? AND device_id = ? AND bucket >= ? AND bucket < ?
        ORDER BY bucket`,
      [
        names.type(key.eventType),
        res,
        names.device(key.device),
        firstBucketFrom(key.from, res),
        firstBucketFrom(key.to, res),
      ],
    );
    if (!old.present) return rows;
    const before = await driver.all<RollupRow>(
      `SELECT ${columns[1]} FROM rollups
        WHERE event_type = ? AND resolution = ? AND device_id = ? AND start >= ? AND start < ?
        ORDER BY start`,
      [key.eventType, res, key.device, key.from, key.to],
    );
    return before.length ? byStart([...rows, ...before]) : rows;
  };
  const readCheckpoint = async () => {
    const rows = await driver.all<{ value: number }>("SELECT value FROM stream_state WHERE name = ?", [
      CHECKPOINT,
    ]);
    return rows.length ? rows[0].value : 0;
  };
  const cache = new RollupColumnCache(options.cacheBytes);
  const loadChunk = async (eventType: string, resolution: number, device: string, chunkStart: number) => {
    const key = RollupColumnCache.key(eventType, resolution, device, chunkStart);
    const cached = cache.get(key);
    if (cached) return cached;
    const generation = cache.generation;
    const rows = await seriesRows([`${COMPACT_START}, ${COMPACT_SCALARS}`, `start, ${SCALAR_COLUMNS}`], {
      eventType,
      resolution,
      device,
      from: chunkStart,
      to: chunkStart + CHUNK_SLOTS * resolution,
    });
    const chunk = rows.length ? RollupColumnCache.emptyChunk() : RollupColumnCache.EMPTY;
    for (const row of rows) {
      RollupColumnCache.setSlot(chunk, (row.start - chunkStart) / resolution, toState(row));
    }
    cache.put(key, chunk, generation);
    return chunk;
  };
  /**
   * The rows `select` finds for each key, in key order (undefined where none), `LOOKUP_KEYS` keys
   * per query: `select` joins the keys as table `k(ki, k1, k2, …)`, `ki` being the key's index.
   */
  const lookUp = async <R extends object = RollupRow>(
    keys: SqlValue[][],
    select: string,
    breathe: () => Promise<void>,
  ): Promise<(R | undefined)[]> => {
    const out: (R | undefined)[] = new Array(keys.length);
    if (keys.length === 0) return out;
    const columns = ["ki", ...keys[0].map((_, j) => `k${j + 1}`)].join(", ");
    const row = `(${keys[0].map(() => "?").concat("?").join(", ")})`;
    for (let from = 0; from < keys.length; from += LOOKUP_KEYS) {
      await breathe();
      const chunk = keys.slice(from, from + LOOKUP_KEYS);
      const args = chunk.flatMap((key, j) => [from + j, ...key]);
      const rows = await driver.all<R & { ki: number }>(
        `WITH k(${columns}) AS (VALUES ${chunk.map(() => row).join(", ")}) ${select}`,
        args,
      );
      for (const r of rows) out[r.ki] = r;
    }
    return out;
  };
  return {
    forgetCached: () => cache.clear(),

    async applyRollupFlush(flush) {
      const statements: SqlStatement[] = [];
      const merged: AggState[] = [];
      // Reading and merging hundreds of buckets takes tens of ms on the calling thread; give the
      // event loop back every few ms so requests are not held up behind a flush.
      let slice = performance.now();
      const breathe = async () => {
        if (performance.now() - slice < FLUSH_SLICE_MS) return;
        await new Promise((resolve) => setTimeout(resolve, 0));
        slice = performance.now();
      };
      const keys = flush.rollups.map((r) => ({
        eventType: names.type(r.eventType, true),
        resolution: r.resolution,
        device: names.device(r.deviceId, true),
        start: r.start,
      }));
      // The stored buckets in a few queries, not one round trip each: with tens of thousands of
      // devices per flush, round trips to a writer busy with commits made a flush slower than the
      // ingestion feeding it, so unflushed deltas (and memory) grew without end.
      const stored = await lookUp(
        keys.map((k) => [k.eventType, k.resolution, k.device, bucketOf(k.start, k.resolution)]),
        `SELECT ki, ${COMPACT_SCALARS}, sketch, devices FROM k JOIN rollups_c
          ON event_type = k1 AND resolution = k2 AND device_id = k3 AND bucket = k4`,
        breathe,
      );
      const writes: BucketWrite[] = [];
      for (let i = 0; i < flush.rollups.length; i++) {
        const r = flush.rollups[i];
        const key = keys[i];
        const device = r.deviceId ?? ALL_DEVICES;
        await breathe();
        let rows = stored[i] ? [stored[i]!] : [];
        if (rows.length === 0 && old.present) {
          // Move on touch: a bucket still in the old table is merged, deleted there and written to
          // the new one in this flush's transaction, so it is in exactly one table and merged once.
          const oldKey = [r.eventType, r.resolution, device, r.start];
          rows = await driver.all<RollupRow>(
            `SELECT ${SCALAR_COLUMNS}, sketch, devices FROM rollups
              WHERE event_type = ? AND resolution = ? AND device_id = ? AND start = ?`,
            oldKey,
          );
          if (rows.length) {
            statements.push({
              sql:
                "DELETE FROM rollups WHERE event_type = ? AND resolution = ? AND device_id = ? AND start = ?",
              args: oldKey,
            });
          }
        }
        const state = rows.length ? mergeStates(toState(rows[0]), r.state) : r.state;
        merged.push(state);
        writes.push({ key, state });
      }
      statements.push(...compactWrites(writes));
      const storedSeries = await lookUp<SeriesRow>(
        flush.series.map((s) => [s.eventType, s.deviceId ?? ALL_DEVICES]),
        `SELECT ki, ${SCALAR_COLUMNS} FROM k JOIN series ON event_type = k1 AND device_id = k2`,
        breathe,
      );
      const seriesRows: SqlValue[][] = [];
      for (let i = 0; i < flush.series.length; i++) {
        await breathe();
        const s = flush.series[i];
        const device = s.deviceId ?? ALL_DEVICES;
        const row = storedSeries[i];
        const state = row ? mergeStates(toState(row), s.state) : s.state;
        seriesRows.push([s.eventType, device, ...stateArgs(state)]);
      }
      statements.push(...seriesWrites(seriesRows));
      statements.push(checkpointStatement(flush.checkpoint));
      // Codes handed out above for names no commit has stored yet go in with the buckets.
      const codes = names.dictionary.pending();
      statements.push(...codes.statements);
      if (flush.settlesDeadLetter) {
        statements.push(settleStatement(flush.settlesDeadLetter.id, flush.settlesDeadLetter.at));
        statements.push(settleGuardStatement());
      }
      await driver.writeBatch(statements);
      codes.confirm();
      cache.generation++;
      flush.rollups.forEach((r, i) =>
        cache.update(r.eventType, r.resolution, r.deviceId ?? ALL_DEVICES, r.start, merged[i])
      );
      return merged;
    },

    async readRollupColumns(query) {
      const out: RollupColumns[] = [];
      const span = CHUNK_SLOTS * query.resolution;
      for (const deviceId of query.deviceIds) {
        const chunks: { chunk: Awaited<ReturnType<typeof loadChunk>>; start: number }[] = [];
        const first = RollupColumnCache.chunkStart(query.from, query.resolution);
        for (let c = first; c < query.to; c += span) {
          chunks.push({
            chunk: await loadChunk(query.eventType, query.resolution, deviceId ?? ALL_DEVICES, c),
            start: c,
          });
        }
        // The slots of each chunk inside [from, to), computed once per chunk, not per slot.
        const res = query.resolution;
        const bounds = chunks.map(({ start }) => [
          Math.max(0, Math.ceil((query.from - start) / res)),
          Math.min(CHUNK_SLOTS, Math.ceil((query.to - start) / res)),
        ]);
        let n = 0;
        chunks.forEach(({ chunk }, c) => {
          const count = chunk.count;
          for (let i = bounds[c][0]; i < bounds[c][1]; i++) if (count[i] > 0) n++;
        });
        const col = { deviceId, start: new Float64Array(n) } as RollupColumns;
        for (const f of SCALAR_FIELDS) col[f] = new Float64Array(n);
        let k = 0;
        chunks.forEach(({ chunk, start }, c) => {
          for (let i = bounds[c][0]; i < bounds[c][1]; i++) {
            if (chunk.count[i] === 0) continue;
            col.start[k] = start + i * res;
            // Field by field, not in a loop over names: this runs for every bucket of a query.
            col.count[k] = chunk.count[i];
            col.valueCount[k] = chunk.valueCount[i];
            col.sum[k] = chunk.sum[i];
            col.min[k] = chunk.min[i];
            col.max[k] = chunk.max[i];
            col.lastValue[k] = chunk.lastValue[i];
            col.lastTs[k] = chunk.lastTs[i];
            col.lastSeq[k] = chunk.lastSeq[i];
            k++;
          }
        });
        out.push(col);
      }
      return out;
    },

    async readRollupSlots(query) {
      const res = query.resolution;
      if (query.from % res !== 0) {
        throw new RangeError("readRollupSlots: from must be a multiple of resolution");
      }
      const slots = Math.max(0, Math.ceil((query.to - query.from) / res));
      const span = CHUNK_SLOTS * res;
      const fields = query.fields ?? SCALAR_FIELDS;
      const out: RollupSlots[] = [];
      for (const deviceId of query.deviceIds) {
        // One allocation per series; the chunks tile [from, to), so every slot is written below.
        const size = fields.length * slots;
        const block = query.allocate ? query.allocate(size).subarray(0, size) : new Float64Array(size);
        const series = { deviceId } as RollupSlots;
        for (const f of SCALAR_FIELDS) series[f] = NO_SLOTS;
        fields.forEach((f, i) => series[f] = block.subarray(i * slots, (i + 1) * slots));
        const device = deviceId ?? ALL_DEVICES;
        for (let c = RollupColumnCache.chunkStart(query.from, res); c < query.to; c += span) {
          const chunk = await loadChunk(query.eventType, res, device, c);
          const first = Math.max(c, query.from);
          const end = Math.min(c + span, query.from + slots * res);
          const [lo, hi] = [(first - c) / res, (end - c) / res];
          for (const f of fields) series[f].set(chunk[f].subarray(lo, hi), (first - query.from) / res);
        }
        out.push(series);
      }
      return out;
    },

    rollupCheckpoint: readCheckpoint,

    async readRollups(query) {
      const sketches = query.sketches ? ", sketch, devices" : "";
      const columns: [string, string] = [
        `event_type, resolution, device_id, ${COMPACT_START}, ${COMPACT_SCALARS}${sketches}`,
        `${ROLLUP_KEY}, ${SCALAR_COLUMNS}${sketches}`,
      ];
      const out: RollupRecord[] = [];
      for (const deviceId of query.deviceIds) {
        const rows = await seriesRows(columns, {
          eventType: query.eventType,
          resolution: query.resolution,
          device: deviceId ?? ALL_DEVICES,
          from: query.from,
          to: query.to,
        });
        for (const row of rows) out.push(names.toRecord(row));
      }
      return out;
    },

    async readRollupsEndingAfter(since, resolutions) {
      const out: RollupRecord[] = [];
      for (const resolution of resolutions) {
        const rows = await driver.all<RollupRow>(
          `SELECT ${COMPACT_ROW} FROM rollups_c WHERE resolution = ? AND bucket > ?`,
          [resolution, Math.floor((since - resolution) / resolution)],
        );
        if (old.present) {
          rows.push(
            ...await driver.all<RollupRow>(
              `SELECT ${ROLLUP_KEY}, ${SCALAR_COLUMNS}, sketch, devices FROM rollups
                WHERE resolution = ? AND start > ?`,
              [resolution, since - resolution],
            ),
          );
        }
        for (const row of rows) out.push(names.toRecord(row));
      }
      return out;
    },

    async listSeries(query) {
      const where: string[] = [query.devices ? "device_id != ''" : "device_id = ''"];
      const args: SqlValue[] = [];
      if (query.eventType !== undefined) {
        where.push("event_type = ?");
        args.push(query.eventType);
      }
      if (query.deviceIds) {
        where.push(`device_id IN (${query.deviceIds.map(() => "?").join(", ")})`);
        args.push(...query.deviceIds);
      }
      const rows = await driver.all<SeriesRow>(
        `SELECT event_type, device_id, ${SCALAR_COLUMNS} FROM series WHERE ${where.join(" AND ")}
          ORDER BY event_type, device_id LIMIT ?`,
        [...args, query.limit],
      );
      return rows.map((r): SeriesRecord => ({
        eventType: r.event_type,
        deviceId: r.device_id === ALL_DEVICES ? null : r.device_id,
        state: toState(r),
      }));
    },
  } satisfies SqliteRollups;
}

const seriesSql = new Map<number, string>();

/** Series rows (event type, device, `stateArgs`) as multi-row writes of up to 64 rows, as `compactWrites`. */
function seriesWrites(rows: readonly SqlValue[][]): SqlStatement[] {
  const out: SqlStatement[] = [];
  for (let at = 0; at < rows.length;) {
    let n = 64;
    while (n > rows.length - at) n >>= 1;
    let sql = seriesSql.get(n);
    if (sql === undefined) {
      seriesSql.set(
        n,
        sql = `INSERT OR REPLACE INTO series (event_type, device_id, ${SCALAR_COLUMNS})
          VALUES ${Array(n).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
      );
    }
    out.push({ sql, args: rows.slice(at, at + n).flat() });
    at += n;
  }
  return out;
}
