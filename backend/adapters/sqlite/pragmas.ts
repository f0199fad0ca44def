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
 * throughput; `journal_size_limit` truncates the WAL after each checkpoint so
 * it does not stay large on disk.
 */
export function localPragmas(options: SqliteOpenOptions): string {
  return [
    "PRAGMA journal_mode=WAL",
    `PRAGMA synchronous=${options.synchronous === "full" ? "FULL" : "NORMAL"}`,
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
    `PRAGMA cache_size=${-options.cacheMb * 1024}`,
    `PRAGMA wal_autocheckpoint=${options.walAutocheckpointPages}`,
    `PRAGMA journal_size_limit=${64 * 1024 * 1024}`,
  ].join(";\n");
}
