/** Tuning applied when a local SQLite file is opened. */
export interface SqliteOpenOptions {
  cacheMb: number;
  walAutocheckpointPages: number;
  /** `normal` survives a process crash; `full` also an OS crash or power loss (fsync per commit). */
  synchronous: "normal" | "full";
}

/**
 * WAL with `synchronous=NORMAL` (the default): a commit survives a crash of the
 * process (SIGKILL) because the WAL is written before the call returns; only an
 * OS crash or power loss can lose the last commits (fsync happens at
 * checkpoint). `SQLITE_SYNCHRONOUS=full` fsyncs every commit.
 * A large autocheckpoint lets many commits coalesce before their pages are
 * copied back, which is what keeps random (UUIDv4) ids from collapsing
 * throughput. `journal_size_limit` lets the WAL file keep the size one
 * autocheckpoint cycle needs (plus a quarter), so after the first cycle it is
 * reused rather than regrown: growing the file stalled commits for 50-75 ms
 * every ~1.5 s on this machine's ext4 (docs/PERFORMANCE.md), and truncating
 * below the cycle size meant regrowing it every cycle.
 */
export function localPragmas(options: SqliteOpenOptions): string {
  return [
    // Only takes effect on a new (empty) database: pages freed by dropped partitions can then be
    // returned to the file system with `incremental_vacuum` (docs/STORAGE.md). Older files keep
    // reusing their free pages.
    "PRAGMA auto_vacuum=INCREMENTAL",
    "PRAGMA journal_mode=WAL",
    `PRAGMA synchronous=${options.synchronous === "full" ? "FULL" : "NORMAL"}`,
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
    `PRAGMA cache_size=${-options.cacheMb * 1024}`,
    `PRAGMA wal_autocheckpoint=${options.walAutocheckpointPages}`,
    `PRAGMA journal_size_limit=${Math.ceil(options.walAutocheckpointPages * 4096 * 1.25)}`,
  ].join(";\n");
}
