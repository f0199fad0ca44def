/**
 * The `Store` port: everything the core needs from durable storage, and nothing
 * of how an engine provides it. SQLite implements it now (`sqlite/`), PostgreSQL
 * later; both must pass `store-contract.ts`, the one contract suite.
 *
 * Contract, for every implementation:
 * - Lifecycle: a store is returned by its factory already open and migrated
 *   (schema versions applied in order, each exactly once). `close()` releases
 *   it; no method may be called after `close()`.
 * - Durability: when `commitEvents` resolves, every event it reports as
 *   `accepted` survives a crash of the process (SIGKILL) and of the engine.
 *   The call is atomic: all of its events are committed, or none are and it
 *   rejects.
 * - Exactly once: an event id is stored at most once, ever. The first commit of
 *   an id wins; later events with the same id (in the same call or a later one)
 *   are reported `duplicate` and change nothing.
 * - Order: `seq` is assigned at commit, strictly increasing in commit order.
 * - Errors: every engine or driver failure is thrown as `StoreUnavailableError`
 *   (with the driver error as `cause`); no driver type, SQL text or engine
 *   message is part of this interface.
 * - Times are epoch milliseconds; ids are opaque strings.
 */
import type { EnrichedEvent, StoredEvent } from "../../shared/event.ts";
import type { AggState, ScalarField } from "../stream/aggregate.ts";
import type { EngineEvent } from "../stream/engine.ts";
import type { AlertStore } from "./alert-store.ts";
import { StoreUnavailableError } from "../errors.ts";
import type { DeadLetterStore, StorageLifecycle } from "./storage-store.ts";

/** The API keys a commit is made for: it must not land once one of them stopped being active. */
export interface KeyGuard {
  ids: readonly string[];
  now: number;
}

/** `commitEvents` committed nothing because a key of its `KeyGuard` is no longer active. */
export class InactiveKeyError extends Error {
  constructor() {
    super("an API key of the commit is no longer active");
  }
}

/**
 * `commitEvents` committed, but the outcome of its events (which were new, which duplicates) could
 * not be read back afterwards: they are stored, and nothing downstream may assume which.
 */
export class CommitOutcomeUnknownError extends StoreUnavailableError {
  constructor(options?: ErrorOptions) {
    super("commit outcome", options);
  }
}

/** Outcome of one event in `commitEvents`, in input order. */
export type CommitOutcome = "accepted" | "duplicate";

/** What `commitEvents` reports: per-event outcomes, and the seq of each accepted event. */
export interface CommitResult {
  outcomes: CommitOutcome[];
  /** Accepted event `i` has seq `firstSeq + i` (duplicates leave their number unused). */
  firstSeq: number;
}

/** A committed event as the stream engine replays it (no metadata or payload). */
export type CommittedEventPoint = EngineEvent;

/** The aggregate state of one stored time bucket. `deviceId` null: all devices of the type. */
export interface RollupRecord {
  /** Bucket size, ms. */
  resolution: number;
  eventType: string;
  deviceId: string | null;
  /** Bucket start, epoch ms (a multiple of `resolution`). */
  start: number;
  state: AggState;
}

/** Totals of one series over all time. `deviceId` null: the whole event type. */
export interface SeriesRecord {
  eventType: string;
  deviceId: string | null;
  state: AggState;
}

/** One atomic rollup update: deltas to merge and the commit seq they reach. */
export interface RollupFlush {
  rollups: readonly RollupRecord[];
  series: readonly SeriesRecord[];
  /** Every event with seq <= checkpoint is in the rollups once this flush is applied. */
  checkpoint: number;
  /** A dead letter this flush replays: marked replayed in the flush's transaction (storage-store.ts). */
  settlesDeadLetter?: { id: number; at: number };
}

/** Filters for `readRollups`. */
export interface RollupQuery {
  eventType: string;
  resolution: number;
  /** Which series: device ids, or null for the all-device series. */
  deviceIds: readonly (string | null)[];
  /** Inclusive lower bound on bucket start. */
  from: number;
  /** Exclusive upper bound on bucket start. */
  to: number;
  /** Whether the sketches are needed (quantiles, distinct); skipping them reads much less. */
  sketches: boolean;
}

/**
 * One series' stored buckets as columns (the scalar part of each state), ordered by start. NaN
 * where a bucket had no valued event (`min`, `max`, `lastValue`, `lastTs`, `lastSeq`).
 */
export type RollupColumns =
  & { deviceId: string | null; start: Float64Array }
  & Record<ScalarField, Float64Array>;

/**
 * One series' stored buckets as dense slots: slot i holds the bucket starting at
 * `from + i × resolution`. Count 0: no bucket; NaN in `min`, `max`, `lastValue`, `lastTs`,
 * `lastSeq`: no valued event. The arrays belong to the caller (never shared with a cache).
 */
export type RollupSlots = { deviceId: string | null } & Record<ScalarField, Float64Array>;

/** Filters for `scanEventPoints` (the raw-event path of metric queries). */
export interface EventPointQuery {
  eventType: string;
  /** Only these devices (absent: all). */
  deviceIds?: readonly string[];
  /** Metadata equality filters: the tag's value as text (numbers and booleans compare by their JSON text). */
  metadata?: readonly [string, string][];
  from: number;
  to: number;
  limit: number;
}

/** Filters for `listEvents`. Results are newest first: `timestamp` desc, then `seq` desc. */
export interface EventQuery {
  deviceId?: string;
  eventType?: string;
  /** Inclusive lower bound on event time, epoch ms. */
  from?: number;
  /** Exclusive upper bound on event time, epoch ms. */
  to?: number;
  /** Keyset position: return only events strictly after it in the listing order. */
  after?: { timestamp: number; seq: number };
  /** `desc` (default): newest first; `asc`: oldest first (`timestamp` asc, then `seq` asc). */
  order?: "desc" | "asc";
  /** Maximum number of events (the caller bounds it). */
  limit: number;
}

/** A stored API key. The secret itself is never stored, only its hash. */
export interface ApiKeyRecord {
  /** Public, non-secret identifier (shown in lists and logs). */
  id: string;
  name: string;
  /** Hex SHA-256 of the secret. */
  keyHash: string;
  scopes: string[];
  createdAt: number;
  lastUsedAt: number | null;
  expiresAt: number | null;
  revokedAt: number | null;
  /** Per-key override of the default event rate limit, or null for the default. */
  rateLimit: { ratePerSecond: number; burst: number } | null;
}

/** One recorded admin action. */
export interface AuditEntry {
  /** Assigned by the store, increasing. */
  seq: number;
  at: number;
  /** Key id of the caller, or `cli` / `system`. */
  actor: string;
  /** e.g. `key.created`, `key.revoked`. */
  action: string;
  /** What the action was applied to (e.g. a key id). */
  target: string | null;
  /** Client address, when known. */
  address: string | null;
  details: Record<string, unknown> | null;
}

/** The remembered outcome of a completed request made with an Idempotency-Key. */
export interface IdempotencyRecord {
  /** The API key that made the request: records are scoped per API key. */
  keyId: string;
  idemKey: string;
  /** Hash of the canonical request payload. */
  fingerprint: string;
  status: number;
  /** The response body, verbatim. */
  body: string;
  createdAt: number;
  expiresAt: number;
  /**
   * Only for `commitEvents`: the record was rendered on the prediction that no unexpired record
   * exists for (keyId, idemKey) at `createdAt` and that none of these event ids is stored. The
   * commit checks both inside its transaction and, when either fails, commits nothing and rejects
   * with `StalePredictionError` naming the stale records.
   */
  predictedNewIds?: readonly string[];
}

/**
 * `commitEvents` committed nothing: the predictions of the records at these indexes did not hold.
 * Empty when the store could not tell which (any record with `predictedNewIds` may be stale).
 */
export class StalePredictionError extends Error {
  constructor(readonly records: readonly number[]) {
    super(`the outcome predicted for idempotency records [${records}] no longer holds`);
  }
}

/** One line-level problem of an import: the line (or JSON element) it is on, the field, why. */
export interface ImportLineError {
  /** 1-based line of the input (for a JSON array: the line the element starts on). */
  line: number;
  /** 0-based element index, for JSON arrays only. */
  index?: number;
  field: string;
  message: string;
}

/** A bulk import job and its progress (see `backend/import/`). */
export interface ImportJobRecord {
  /** `imp_` + 32 hex digits. */
  id: string;
  /** The API key that started it. */
  keyId: string;
  state: "running" | "completed" | "failed";
  format: "ndjson" | "csv" | "json";
  /** Request body bytes received (as sent, so compressed for gzip). */
  bytesRead: number;
  /** Records read: non-blank NDJSON lines, CSV data rows, JSON array elements. */
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** The first problems found, in input order (a bounded list). */
  errors: ImportLineError[];
  /** Why the job failed; null unless `state` is `failed`. */
  failure: string | null;
  startedAt: number;
  /** When this record was last written. */
  updatedAt: number;
  finishedAt: number | null;
}

/** Size figures for health and metrics. */
export interface StoreStats {
  events: number;
  /** Bytes used on disk (0 for in-memory or remote stores that cannot tell). */
  bytes: number;
}

/** Durable storage for events and keys. See the module comment for the contract. */
export interface Store {
  /** Engine name for health output, e.g. `sqlite (node:sqlite)`. */
  readonly engine: string;
  /**
   * How many `commitEvents` calls may be in flight at once (at least 1). Calls in flight together
   * commit in the order they were made: their seqs and outcomes are as if each waited for the one
   * before it.
   */
  readonly maxCommitsInFlight: number;
  /** Partitions, retention and space (see storage-store.ts). */
  readonly storage: StorageLifecycle;
  /** Items that failed inside the pipeline, kept for replay (see storage-store.ts). */
  readonly deadLetters: DeadLetterStore;
  /**
   * Commits `events` atomically, together with `records` (idempotency outcomes that must be
   * durable exactly when the events are); outcomes are in input order. With `keys`, the commit
   * happens only if every key in `keys.ids` is still active (not revoked, deleted or expired at
   * `keys.now`) inside the same transaction; otherwise nothing is committed and it rejects with
   * `InactiveKeyError`. Records with `predictedNewIds` are checked the same way
   * (`StalePredictionError`).
   */
  commitEvents(
    events: readonly EnrichedEvent[],
    records?: readonly IdempotencyRecord[],
    keys?: KeyGuard,
  ): Promise<CommitResult>;
  /** Committed events with seq > `afterSeq`, in seq order, at most `limit` (replay after a restart). */
  eventsAfter(afterSeq: number, limit: number): Promise<CommittedEventPoint[]>;
  /** Full committed events with seq > `afterSeq`, in seq order, at most `limit` (live resume). */
  readEventsAfter(afterSeq: number, limit: number): Promise<StoredEvent[]>;
  /** Committed events with event time >= `fromTs`, in seq order, at most `limit`. */
  eventPointsSince(fromTs: number, limit: number): Promise<CommittedEventPoint[]>;
  /** Events of one type in [from, to) with the filters, at most `limit`, in no particular order. */
  scanEventPoints(query: EventPointQuery): Promise<CommittedEventPoint[]>;
  /**
   * Applies a rollup flush atomically: each delta is merged into its stored bucket (created if
   * absent), each series delta into its series, and the checkpoint is recorded, all in one
   * transaction. Resolves with the merged state of each rollup, in input order. Callers run
   * one flush at a time.
   */
  applyRollupFlush(flush: RollupFlush): Promise<AggState[]>;
  /** The checkpoint of the last applied flush (0 before the first). */
  rollupCheckpoint(): Promise<number>;
  /** Stored buckets matching `query`, ordered by device then start. */
  readRollups(query: RollupQuery): Promise<RollupRecord[]>;
  /**
   * The scalar columns (no sketches) of the buckets `readRollups` would return, one entry per
   * requested series in request order: the fast path of metric queries.
   */
  readRollupColumns(query: Omit<RollupQuery, "sketches">): Promise<RollupColumns[]>;
  /**
   * The scalar part of the buckets in [from, to) as dense slots (see `RollupSlots`), one entry per
   * requested series in request order, each `ceil((to - from) / resolution)` slots long: the
   * fastest read of metric queries (no per-bucket objects or per-bucket start times). `from`
   * must be a multiple of `resolution` (RangeError otherwise).
   */
  readRollupSlots(
    query: Omit<RollupQuery, "sketches"> & {
      /** Only these fields (default: all); the others are empty arrays, to save a large read. */
      fields?: readonly ScalarField[];
      /**
       * Where a series' slots live: a block of at least `fields.length × slots` doubles, which the
       * store overwrites entirely (default: a new array). Lets callers reuse memory.
       */
      allocate?: (length: number) => Float64Array<ArrayBuffer>;
    },
  ): Promise<RollupSlots[]>;
  /** Stored buckets of every series whose end is after `since` (to rebuild open windows at start). */
  readRollupsEndingAfter(since: number, resolutions: readonly number[]): Promise<RollupRecord[]>;
  /**
   * Series totals: the event types (`devices` false), or the devices of `eventType` (`devices`
   * true), ordered by name, at most `limit`, optionally only `deviceIds`.
   */
  listSeries(query: {
    eventType?: string;
    devices: boolean;
    deviceIds?: readonly string[];
    limit: number;
  }): Promise<SeriesRecord[]>;
  /** Which of `ids` are stored. */
  findExistingEventIds(ids: readonly string[]): Promise<Set<string>>;
  /** One event by id, or `null`. */
  getEvent(id: string): Promise<StoredEvent | null>;
  /** Events matching `query`, newest first, at most `query.limit`. */
  listEvents(query: EventQuery): Promise<StoredEvent[]>;
  /** Stores a new key. Throws if `id` or `keyHash` already exists. */
  createApiKey(key: ApiKeyRecord): Promise<void>;
  /** The key whose hash is `keyHash`, or `null`. */
  findApiKeyByHash(keyHash: string): Promise<ApiKeyRecord | null>;
  /** Number of keys, revoked ones included. */
  countApiKeys(): Promise<number>;
  /** Every key, newest first (hashes included: callers must not expose them). */
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** One key by its public id, or `null`. */
  getApiKey(id: string): Promise<ApiKeyRecord | null>;
  /** Sets `revokedAt` if the key exists and is not revoked yet; returns the key as it is now, or `null`. */
  revokeApiKey(id: string, at: number): Promise<ApiKeyRecord | null>;
  /** Sets (or with `null` clears) the key's rate-limit override; returns the key, or `null` if unknown. */
  setApiKeyRateLimit(
    id: string,
    limit: { ratePerSecond: number; burst: number } | null,
  ): Promise<ApiKeyRecord | null>;
  /** Records that the key was used at `at`. */
  touchApiKey(id: string, at: number): Promise<void>;
  /** The unexpired record for (keyId, idemKey) at `now`, or `null`. */
  getIdempotencyRecord(keyId: string, idemKey: string, now: number): Promise<IdempotencyRecord | null>;
  /** Stores records in one transaction, each replacing an expired one with the same (keyId, idemKey). */
  saveIdempotencyRecords(records: readonly IdempotencyRecord[]): Promise<void>;
  /** Deletes records expired at `now`; returns how many. */
  purgeIdempotencyRecords(now: number): Promise<number>;
  /** Appends to the audit log. */
  appendAudit(entry: Omit<AuditEntry, "seq">): Promise<void>;
  /** Audit entries newest first, strictly before `beforeSeq` if given. */
  listAudit(query: { limit: number; beforeSeq?: number }): Promise<AuditEntry[]>;
  /** Inserts or replaces the import job with `job.id`. */
  saveImportJob(job: ImportJobRecord): Promise<void>;
  /** One import job by id, as last saved, or `null`. */
  getImportJob(id: string): Promise<ImportJobRecord | null>;
  /** Alert rules, receivers, silences, instances, history and the notification outbox. */
  readonly alerts: AlertStore;
  /** Resolves when the store can serve reads and writes; rejects otherwise. */
  ping(): Promise<void>;
  stats(): Promise<StoreStats>;
  close(): Promise<void>;
}
