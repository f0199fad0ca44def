/**
 * Storage lifecycle and dead letters: the parts of the `Store` port that the
 * retention job, the export and the dead-letter queue use (docs/STORAGE.md).
 * Every implementation runs `storage-contract.ts`.
 *
 * Contract:
 * - Raw events live in UTC-day partitions of event time. `dropEventPartition`
 *   removes one whole day: afterwards no read returns its events, its ids are
 *   forgotten (an id of a dropped day may be stored again), and the seqs it held
 *   are never handed out again. Ingestion keeps committing while a drop runs;
 *   the drop works in short transactions.
 * - Dedup is exact among stored events: an id is stored at most once, across
 *   all partitions. While a day is being dropped its ids may still count as
 *   stored (a new event with such an id is reported `duplicate`) until the drop
 *   completes; never the other way round.
 * - Dead letters are durable once `add` resolves. `parkRollupRange` records a
 *   dead letter and advances the rollup checkpoint in one transaction; a rollup
 *   flush carrying `settlesDeadLetter` marks it replayed in the flush's
 *   transaction, so a replay is applied exactly once.
 */

import type { RollupRecord } from "./store.ts";

/** One readable day partition of raw events. */
export interface EventPartitionInfo {
  /** UTC day, `2026-11-22`. */
  day: string;
  /** Day start (inclusive) and end (exclusive), epoch ms. */
  start: number;
  end: number;
  rows: number;
  /** Bytes of its table and indexes (0 where the engine cannot tell). */
  bytes: number;
  /** Oldest and newest event time in it (null when empty). */
  oldest: number | null;
  newest: number | null;
}

/** Stored rollup buckets of one resolution. */
export interface RollupTierInfo {
  resolution: number;
  rows: number;
  /**
   * Bytes of its rows, estimated: the rollup table's bytes shared out by the rows' sizes (0 where
   * the engine cannot tell).
   */
  bytes: number;
  /** Oldest and newest bucket start (null when none). */
  oldest: number | null;
  newest: number | null;
}

/** What the store holds, per tier (`GET /v1/admin/storage`). */
export interface StorageLayout {
  partitions: EventPartitionInfo[];
  /** The dedup table (`rows` includes ids of days whose drop is in progress). */
  eventIds: { rows: number; bytes: number };
  /** Codes of the raw rows' dictionary (device ids, event types, tag sets) and its bytes. */
  dictionary: { devices: number; eventTypes: number; tagSets: number; bytes: number };
  rollups: RollupTierInfo[];
  /** Bytes of all rollup and series tables together (0 where unknown). */
  rollupBytes: number;
  /** The database file: size, free pages' bytes, page size, auto_vacuum mode. */
  file: { bytes: number; freeBytes: number; pageSize: number; autoVacuum: "none" | "full" | "incremental" };
}

/** The lifecycle operations of the store (retention, space, layout). */
export interface StorageLifecycle {
  /**
   * Readable day partitions, oldest first (start/end and the lowest/highest seq they hold, 0 when
   * empty; cheap: no scans).
   */
  eventPartitions(): Promise<{ day: string; start: number; end: number; minSeq: number; maxSeq: number }[]>;
  /**
   * Drops the partition of the UTC day starting at `start`: it stops being readable at once, its
   * rows and their ids are deleted `chunkRows` (default 2,000) per transaction, in seq order, then
   * its empty table is dropped. Resolves with the rows it held. Resumes an interrupted drop of the
   * same day.
   */
  dropEventPartition(start: number, options?: { chunkRows?: number }): Promise<{ rows: number }>;
  /** Finishes drops interrupted by a crash (days renamed but not yet dropped). Resolves with their count. */
  resumeDrops(): Promise<number>;
  /** Deletes rollup buckets of `resolution` that start before `before`, a few series per transaction. */
  expireRollups(resolution: number, before: number): Promise<number>;
  /**
   * Returns free pages to the file system (incremental vacuum) in short steps: at most `maxPages`
   * (default 512) per step, fewer when a step would hold the writer longer than ~50 ms. Pages freed.
   */
  reclaimSpace(options?: { maxPages?: number }): Promise<number>;
  /** Partitions, rows, bytes and time ranges per tier. Scans sizes: an admin call, not a hot path. */
  layout(): Promise<StorageLayout>;
  /**
   * Stored buckets of every series at `resolution` with start in [from, to), ordered by event
   * type, device (the all-device series, null, first) and start, strictly after the keyset
   * position `after`, at most `limit` (the export's pages); only `eventType` / `deviceId` (null:
   * the all-device series) when given. Types and devices are in the order of the store's key, which
   * need not be by name (SQLite: the order their dictionary codes were handed out); it is fixed for
   * a stored series, so paging from `after` returns each bucket once.
   */
  scanRollups(query: {
    resolution: number;
    from: number;
    to: number;
    eventType?: string;
    deviceId?: string | null;
    after?: { eventType: string; deviceId: string | null; start: number };
    limit: number;
  }): Promise<RollupRecord[]>;
}

/** A failed item kept for inspection and replay. */
export interface DeadLetter {
  /** Assigned by the store, increasing. */
  id: number;
  /** What failed: `rollup-flush`, `event`, `notification`, … */
  kind: string;
  /** The original payload (JSON). */
  payload: unknown;
  /** Why it failed (the last error). */
  reason: string;
  /** Attempts made so far (including failed replays). */
  attempts: number;
  /** Failed automatic replays so far (storage/auto-replay.ts), part of `attempts`. */
  autoReplays: number;
  firstFailedAt: number;
  lastFailedAt: number;
  /** When a replay succeeded, or null while pending. */
  replayedAt: number | null;
}

/** Input of `DeadLetterStore.add`. */
export interface NewDeadLetter {
  kind: string;
  payload: unknown;
  reason: string;
  attempts: number;
  /** Failure time, epoch ms. */
  at: number;
}

/** Dead-letter counts per kind (for /metrics). */
export interface DeadLetterCount {
  kind: string;
  pending: number;
  replayed: number;
}

/** Which dead letters `DeadLetterStore.list` returns. */
export interface DeadLetterQuery {
  kind?: string;
  pending?: boolean;
  beforeId?: number;
  afterId?: number;
  /** `desc` (default): newest first. */
  order?: "desc" | "asc";
  limit: number;
}

/** Durable dead letters. */
export interface DeadLetterStore {
  /** Keeps `item`; resolves with it as stored. */
  add(item: NewDeadLetter): Promise<DeadLetter>;
  /**
   * Keeps a dead letter for rollup work that cannot be applied and records `checkpoint` as the
   * rollup checkpoint, in one transaction: the events it covers are then in the dead letter, not
   * in the rollups, until it is replayed.
   */
  parkRollupRange(item: NewDeadLetter, checkpoint: number): Promise<DeadLetter>;
  /**
   * Newest first (`order` `asc`: oldest first), strictly before `beforeId` / after `afterId` if
   * given, optionally one kind or only pending ones.
   */
  list(query: DeadLetterQuery): Promise<DeadLetter[]>;
  get(id: number): Promise<DeadLetter | null>;
  /** Marks a pending item replayed at `at`; false if it was not pending. */
  markReplayed(id: number, at: number): Promise<boolean>;
  /** Records a failed replay: attempts + 1 (and autoReplays + 1 if `automatic`), the new reason and time. */
  recordFailure(id: number, reason: string, at: number, options?: { automatic?: boolean }): Promise<void>;
  /** Deletes items (one kind, or all; only replayed ones if `replayedOnly`). Resolves with the count. */
  purge(query: { kind?: string; replayedOnly?: boolean }): Promise<number>;
  counts(): Promise<DeadLetterCount[]>;
}
