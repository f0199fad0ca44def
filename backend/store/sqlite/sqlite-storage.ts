/**
 * The storage lifecycle on SQLite (`StorageLifecycle`, see storage-store.ts):
 * dropping day partitions, expiring rollup buckets, returning free pages to
 * the file system, and the layout report. Every step is a short transaction so
 * the group committer's commits interleave with a drop.
 */
import type { StorageLayout, StorageLifecycle } from "../storage-store.ts";
import { DAY_MS, dayOf, isoDay, partitionTable, partitionTrees, retiredTable } from "./event-partitions.ts";
import { type EventPartitionState, seqFloorStatement } from "./sqlite-events.ts";
import { ALL_DEVICES } from "./sqlite-rows.ts";
import type { SqlDriver, SqlStatement } from "./sql-driver.ts";
import { firstBucketFrom, type OldRollups, type RollupNames } from "./rollup-layout.ts";
import { rollupScan } from "./rollup-scan.ts";
import { nextMacrotask } from "../../ingest/macrotask.ts";

/** Series whose old buckets one expiry transaction deletes. */
const SERIES_PER_STEP = 50;
/** Lifecycle work between two of its own WAL checkpoints, ms (a few thousand pages). */
const CHECKPOINT_EVERY_MS = 100;
/** What one incremental-vacuum step aims to take, ms: its page count follows the measured pace. */
const VACUUM_STEP_MS = 50;
/**
 * The bytes of a rollup row besides its names (when stored as text) and sketches: the record
 * header, the key's start and resolution, ten numbers, the cell's overhead (about what
 * bench/storage.ts's rows take), in the old table and in `rollups_c` (codes, smaller numbers).
 */
const ROLLUP_ROW_FIXED_BYTES = { rollups: 85, rollups_c: 75 };
/** Rows (with their ids) one drop transaction deletes. */
const DROP_CHUNK_ROWS = 2000;

export function sqliteStorage(
  driver: SqlDriver,
  state: EventPartitionState,
  rollups: { forgetCachedRollups: () => void; names: RollupNames; old: OldRollups },
): StorageLifecycle {
  const { partitions, retired } = state;
  const { names, old } = rollups;

  /**
   * Between two lifecycle steps: every `CHECKPOINT_EVERY_MS` of them, copies the WAL's pages back
   * into the database file on the writer (a passive checkpoint, which never waits for a reader); then
   * lets queued commits run. A drop or a vacuum writes pages fast; left to the automatic checkpoint,
   * every ~20,000 of them (`SQLITE_WAL_AUTOCHECKPOINT_PAGES`) one unlucky commit copied them all
   * back (~150 ms on a quiet machine here, ~600 ms on a busy one; docs/PERFORMANCE.md). A failed
   * checkpoint only leaves the work to the automatic one.
   */
  let checkpointedAt = performance.now();
  const betweenSteps = async () => {
    if (driver.local && performance.now() - checkpointedAt >= CHECKPOINT_EVERY_MS) {
      await driver.exec("PRAGMA wal_checkpoint(PASSIVE)").catch(() => {});
      checkpointedAt = performance.now();
    }
    // The macrotasks already queued (the next commit, requests) run between two steps: with a
    // driver that answers on the calling thread, awaiting it never leaves the microtask queue.
    await nextMacrotask();
  };

  /** Bytes of the named tables and indexes (dbstat), 0 if the engine has no dbstat. */
  const bytesOf = async (names: string[]) => {
    if (!driver.local) return 0;
    let total = 0;
    for (const name of names) {
      const rows = await driver.all<{ b: number | null }>(
        "SELECT sum(pgsize) AS b FROM dbstat WHERE name = ? AND aggregate = TRUE",
        [name],
      ).catch(() => [{ b: 0 }]);
      total += rows[0]?.b ?? 0;
    }
    return total;
  };

  const finishDrop = async (day: number, chunkRows: number) => {
    const table = retiredTable(day);
    const [{ n }] = await driver.all<{ n: number }>(`SELECT count(*) AS n FROM ${table}`);
    // Empty the table a seq range at a time, each range with its ids in one short transaction: a
    // commit then waits for one range at most, where one DROP of a large table holds the writer for
    // as long as freeing all of its pages takes. `day = ?` keeps an id stored again for another day.
    for (;;) {
      const edge = await driver.all<{ seq: number }>(
        `SELECT seq FROM ${table} ORDER BY seq LIMIT 1 OFFSET ?`,
        [chunkRows - 1],
      );
      const upper = edge.length ? edge[0].seq : Number.MAX_SAFE_INTEGER;
      await driver.writeBatch([
        {
          sql: `DELETE FROM event_ids WHERE day = ? AND id IN (SELECT id FROM ${table} WHERE seq <= ?)`,
          args: [day, upper],
        },
        { sql: `DELETE FROM ${table} WHERE seq <= ?`, args: [upper] },
      ]);
      if (!edge.length) break;
      await betweenSteps();
    }
    await driver.writeBatch([{ sql: `DROP TABLE ${table}`, args: [] }, seqFloorStatement(state.lastSeq())]);
    retired.splice(retired.indexOf(day), 1);
    return { rows: n };
  };

  return {
    async eventPartitions() {
      const out = [];
      for (const d of partitions.days()) {
        // min(seq) of a rowid table is one B-tree descent.
        const rows = await driver.all<{ lo: number | null }>(
          `SELECT min(seq) AS lo FROM ${partitionTable(d)}`,
        )
          .catch(() => [{ lo: null }]);
        out.push({
          day: isoDay(d),
          start: d * DAY_MS,
          end: (d + 1) * DAY_MS,
          minSeq: rows[0]?.lo ?? 0,
          maxSeq: partitions.maxSeqOf(d) ?? 0,
        });
      }
      return out;
    },

    async dropEventPartition(start, options = {}) {
      const day = dayOf(start);
      const chunkRows = Math.max(1, options.chunkRows ?? DROP_CHUNK_ROWS);
      if (partitions.has(day)) {
        // Unreadable from now on (reads consult the set); a commit that still carries an event of
        // this day recreates an empty partition, which the next retention pass drops.
        // The seq floor goes with the rename: a crash before the DROP must not free the day's seqs.
        const top = partitions.maxSeqOf(day) ?? 0;
        partitions.delete(day);
        try {
          await driver.writeBatch([
            { sql: `ALTER TABLE ${partitionTable(day)} RENAME TO ${retiredTable(day)}`, args: [] },
            seqFloorStatement(state.lastSeq()),
          ]);
        } catch (error) {
          partitions.add(day, top);
          throw error;
        }
        retired.push(day);
      } else if (!retired.includes(day)) {
        return { rows: 0 };
      }
      return finishDrop(day, chunkRows);
    },

    async resumeDrops() {
      const days = [...retired];
      for (const day of days) await finishDrop(day, DROP_CHUNK_ROWS);
      return days.length;
    },

    async expireRollups(resolution, before) {
      const series = await driver.all<{ event_type: string; device_id: string }>(
        `SELECT event_type, device_id FROM series
          UNION SELECT DISTINCT event_type, '${ALL_DEVICES}' FROM series`,
      );
      let deleted = 0;
      for (let i = 0; i < series.length; i += SERIES_PER_STEP) {
        const statements: SqlStatement[] = [];
        for (const s of series.slice(i, i + SERIES_PER_STEP)) {
          statements.push({
            sql:
              "DELETE FROM rollups_c WHERE event_type = ? AND resolution = ? AND device_id = ? AND bucket < ?",
            args: [
              names.type(s.event_type),
              resolution,
              names.device(s.device_id),
              firstBucketFrom(before, resolution),
            ],
          });
          if (old.present) {
            statements.push({
              sql:
                "DELETE FROM rollups WHERE event_type = ? AND resolution = ? AND device_id = ? AND start < ?",
              args: [s.event_type, resolution, s.device_id, before],
            });
          }
        }
        for (const n of await driver.writeBatch(statements)) deleted += n;
        await betweenSteps();
      }
      if (deleted > 0) {
        rollups.forgetCachedRollups();
        await old.recheck();
      }
      return deleted;
    },

    async reclaimSpace(options = {}) {
      if (!driver.local) return 0;
      const maxPages = Math.max(1, options.maxPages ?? 512);
      const free = async () =>
        (await driver.all<{ n: number }>("SELECT freelist_count AS n FROM pragma_freelist_count()"))[0].n;
      const [{ mode }] = await driver.all<{ mode: number }>(
        "SELECT auto_vacuum AS mode FROM pragma_auto_vacuum()",
      );
      if (mode !== 2) return 0;
      let before = await free();
      let freed = 0;
      // Steps sized by time, not pages: a page costs ~0.04 ms here (a 1 M-event day's 27,950 pages in
      // ~1 s), but a busy disk or a large checkpoint can make a step of 512 many times that.
      let pages = Math.min(maxPages, 64);
      while (before > 0) {
        const t = performance.now();
        await driver.exec(`PRAGMA incremental_vacuum(${pages})`);
        const ms = performance.now() - t;
        const now = await free();
        if (now >= before) break;
        freed += before - now;
        before = now;
        pages = Math.max(
          8,
          Math.min(maxPages, pages * 2, Math.round((pages * VACUUM_STEP_MS) / Math.max(ms, 1))),
        );
        await betweenSteps();
      }
      return freed;
    },

    scanRollups: rollupScan(driver, rollups),

    async layout(): Promise<StorageLayout> {
      const out: StorageLayout["partitions"] = [];
      for (const d of partitions.days()) {
        const [r] = await driver.all<{ n: number; lo: number | null; hi: number | null }>(
          `SELECT count(*) AS n, min(ms) AS lo, max(ms) AS hi FROM ${partitionTable(d)}`,
        ).catch(() => [{ n: 0, lo: null, hi: null }]);
        const start = d * DAY_MS;
        out.push({
          day: isoDay(d),
          start,
          end: start + DAY_MS,
          rows: r.n,
          bytes: await bytesOf(partitionTrees(d)),
          oldest: r.lo === null ? null : start + r.lo,
          newest: r.hi === null ? null : start + r.hi,
        });
      }
      const [ids] = await driver.all<{ n: number }>("SELECT count(*) AS n FROM event_ids");
      const codes = await driver.all<{ kind: number; n: number }>(
        "SELECT kind, count(*) AS n FROM event_dictionary GROUP BY kind ORDER BY kind",
      );
      // SQLite sizes B-trees, not the rows of one resolution inside one: a tier's share of each table
      // is estimated from its rows' variable-length columns plus a fixed part per row.
      const tiers = new Map<number, { rows: number; lo: number; hi: number; bytes: number }>();
      for (const table of ["rollups_c", "rollups"] as const) {
        if (table === "rollups" && !old.present) continue;
        const start = table === "rollups" ? "start" : "bucket * resolution";
        const text = (column: string) =>
          table === "rollups" ? `length(${column})` : `iif(typeof(${column}) = 'blob', length(${column}), 0)`;
        const rows = await driver.all<
          { resolution: number; n: number; lo: number; hi: number; variable: number }
        >(
          `SELECT resolution, count(*) AS n, min(${start}) AS lo, max(${start}) AS hi,
             sum(${text("event_type")} + ${text("device_id")} + coalesce(length(sketch), 0)
               + coalesce(length(devices), 0)) AS variable
             FROM ${table} GROUP BY resolution`,
        );
        const bytes = await bytesOf([table]);
        const weight = (r: { n: number; variable: number }) =>
          r.n * ROLLUP_ROW_FIXED_BYTES[table] + r.variable;
        const weights = rows.reduce((sum, r) => sum + weight(r), 0);
        for (const r of rows) {
          const share = weights > 0 ? (bytes * weight(r)) / weights : 0;
          const tier = tiers.get(r.resolution);
          if (!tier) tiers.set(r.resolution, { rows: r.n, lo: r.lo, hi: r.hi, bytes: share });
          else {
            Object.assign(tier, {
              rows: tier.rows + r.n,
              lo: Math.min(tier.lo, r.lo),
              hi: Math.max(tier.hi, r.hi),
              bytes: tier.bytes + share,
            });
          }
        }
      }
      const [file] = driver.local
        ? await driver.all<{ pages: number; free: number; size: number; mode: number }>(
          `SELECT page_count AS pages, freelist_count AS free, page_size AS size, auto_vacuum AS mode
             FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size(), pragma_auto_vacuum()`,
        )
        : [{ pages: 0, free: 0, size: 0, mode: 0 }];
      return {
        partitions: out,
        eventIds: { rows: ids.n, bytes: await bytesOf(["event_ids"]) },
        dictionary: {
          devices: codes.find((c) => c.kind === 0)?.n ?? 0,
          eventTypes: codes.find((c) => c.kind === 1)?.n ?? 0,
          tagSets: codes.find((c) => c.kind === 2)?.n ?? 0,
          bytes: await bytesOf(["event_dictionary"]),
        },
        rollups: [...tiers].sort(([a], [b]) => a - b).map(([resolution, t]) => ({
          resolution,
          rows: t.rows,
          bytes: Math.round(t.bytes),
          oldest: t.lo,
          newest: t.hi,
        })),
        rollupBytes: await bytesOf(["rollups_c", "rollups", "series"]),
        file: {
          bytes: file.pages * file.size,
          freeBytes: file.free * file.size,
          pageSize: file.size,
          autoVacuum: file.mode === 2 ? "incremental" : file.mode === 1 ? "full" : "none",
        },
      };
    },
  };
}
