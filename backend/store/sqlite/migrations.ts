/**
 * Versioned schema migrations, applied in order at start, each exactly once,
 * recorded in `schema_migrations`. Never edit a released migration: add one.
 *
 * Layout notes (measurements in docs/PERFORMANCE.md):
 * - `events.seq` is the rowid: rows are appended in commit order, so the table
 *   itself never takes a random insert whatever ids clients send.
 * - `events_id` is the exact dedup index. Server-generated ids are UUIDv7
 *   (time-ordered), so their index inserts append too; random client UUIDv4 ids
 *   scatter, which the writer absorbs with large group commits and a large WAL
 *   autocheckpoint.
 * - Event time is indexed alone and per device for the newest-first reads.
 * - Since migration 7 the raw events live in day partitions (`event-partitions.ts`,
 *   docs/STORAGE.md) and `event_ids` is the dedup arbiter.
 * - Since migration 14 their rows are compact (`event-encoding.ts`): dictionary codes,
 *   UUIDs as bytes, times relative to the day, large payloads compressed.
 * - Since migration 16 flushes write rollups to `rollups_c` (rollup-layout.ts): codes,
 *   bucket numbers, times relative to the bucket; `rollups` is read until it expires.
 */
import { compactMigration } from "./compact-migration.ts";
import { partitionMigration, V1_EVENT_COLUMNS } from "./partition-migration.ts";
import { compactRollupsMigration } from "./rollup-migration.ts";
import type { SqlDriver } from "./sql-driver.ts";

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** Statements computed from the database (instead of `sql`), run in the migration's transaction. */
  plan?: (driver: SqlDriver) => Promise<string[]>;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "events and api keys",
    sql: `
      CREATE TABLE events (${V1_EVENT_COLUMNS});
      CREATE UNIQUE INDEX events_id ON events (id);
      CREATE INDEX events_ts ON events (ts);
      CREATE INDEX events_device_ts ON events (device_id, ts);
      CREATE TABLE api_keys (
        id           TEXT    PRIMARY KEY,
        name         TEXT    NOT NULL,
        key_hash     TEXT    NOT NULL UNIQUE,
        scopes       TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER,
        expires_at   INTEGER,
        revoked_at   INTEGER
      );
    `,
  },
  {
    version: 2,
    name: "audit log",
    sql: `
      CREATE TABLE audit_log (
        seq          INTEGER PRIMARY KEY,
        at           INTEGER NOT NULL,
        actor        TEXT    NOT NULL,
        action       TEXT    NOT NULL,
        target       TEXT,
        address      TEXT,
        details      TEXT
      );
    `,
  },
  {
    version: 3,
    name: "per-key rate limits",
    sql: `
      ALTER TABLE api_keys ADD COLUMN rate_per_second REAL;
      ALTER TABLE api_keys ADD COLUMN rate_burst INTEGER;
    `,
  },
  {
    version: 4,
    name: "idempotency records",
    sql: `
      CREATE TABLE idempotency_records (
        key_id       TEXT    NOT NULL,
        idem_key     TEXT    NOT NULL,
        fingerprint  TEXT    NOT NULL,
        status       INTEGER NOT NULL,
        body         TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        PRIMARY KEY (key_id, idem_key)
      ) WITHOUT ROWID;
      CREATE INDEX idempotency_expiry ON idempotency_records (expires_at);
    `,
  },
  {
    version: 5,
    name: "rollups, series and the stream checkpoint",
    // device_id '' is the all-device series (device ids are never empty). The key leads with
    // (event_type, resolution, device_id) so one series' range is one contiguous index scan.
    sql: `
      CREATE TABLE rollups (
        event_type  TEXT    NOT NULL,
        resolution  INTEGER NOT NULL,
        device_id   TEXT    NOT NULL,
        start       INTEGER NOT NULL,
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
        PRIMARY KEY (event_type, resolution, device_id, start)
      ) WITHOUT ROWID;
      CREATE TABLE series (
        event_type  TEXT    NOT NULL,
        device_id   TEXT    NOT NULL,
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
        PRIMARY KEY (event_type, device_id)
      ) WITHOUT ROWID;
      CREATE TABLE stream_state (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 6,
    name: "import jobs",
    // Progress counters are written every few seconds while a job runs; `errors` is a bounded JSON list.
    sql: `
      CREATE TABLE import_jobs (
        id          TEXT    PRIMARY KEY,
        key_id      TEXT    NOT NULL,
        state       TEXT    NOT NULL,
        format      TEXT    NOT NULL,
        bytes_read  INTEGER NOT NULL,
        lines       INTEGER NOT NULL,
        accepted    INTEGER NOT NULL,
        duplicates  INTEGER NOT NULL,
        rejected    INTEGER NOT NULL,
        errors      TEXT    NOT NULL,
        failure     TEXT,
        started_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        finished_at INTEGER
      ) WITHOUT ROWID;
    `,
  },
  partitionMigration,
  {
    version: 8,
    name: "dead letters",
    // Pending items are listed newest first per kind; replayed ones stay until purged.
    sql: `
      CREATE TABLE dead_letters (
        id              INTEGER PRIMARY KEY,
        kind            TEXT    NOT NULL,
        payload         TEXT    NOT NULL,
        reason          TEXT    NOT NULL,
        attempts        INTEGER NOT NULL,
        first_failed_at INTEGER NOT NULL,
        last_failed_at  INTEGER NOT NULL,
        replayed_at     INTEGER
      );
      CREATE INDEX dead_letters_kind ON dead_letters (kind, id);
    `,
  },
  {
    version: 10,
    name: "alert rules, receivers and silences",
    // Documents as JSON: the alerting core validates them; SQL only stores, orders and expires.
    sql: `
      CREATE TABLE alert_rules (
        id          TEXT    PRIMARY KEY,
        body        TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE alert_receivers (
        id          TEXT    PRIMARY KEY,
        body        TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE alert_silences (
        id          TEXT    PRIMARY KEY,
        body        TEXT    NOT NULL,
        ends_at     INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 11,
    name: "alert instances and history",
    sql: `
      CREATE TABLE alert_instances (
        rule_id     TEXT    NOT NULL,
        fingerprint TEXT    NOT NULL,
        state       TEXT    NOT NULL,
        body        TEXT    NOT NULL,
        PRIMARY KEY (rule_id, fingerprint)
      ) WITHOUT ROWID;
      CREATE TABLE alert_transitions (
        seq         INTEGER PRIMARY KEY,
        at          INTEGER NOT NULL,
        rule_id     TEXT    NOT NULL,
        fingerprint TEXT    NOT NULL,
        labels      TEXT    NOT NULL,
        from_state  TEXT    NOT NULL,
        to_state    TEXT    NOT NULL,
        value       REAL
      );
      CREATE INDEX alert_transitions_rule ON alert_transitions (rule_id, seq);
      CREATE INDEX alert_transitions_fingerprint ON alert_transitions (fingerprint, seq);
    `,
  },
  {
    version: 12,
    name: "notification outbox and groups",
    // One waiting item per group at most (the partial unique index); delivery scans by status and due time.
    sql: `
      CREATE TABLE alert_outbox (
        id          TEXT    PRIMARY KEY,
        receiver_id TEXT    NOT NULL,
        group_key   TEXT    NOT NULL,
        status      TEXT    NOT NULL,
        payload     TEXT,
        due_at      INTEGER NOT NULL,
        attempts    INTEGER NOT NULL,
        last_error  TEXT,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE UNIQUE INDEX alert_outbox_waiting ON alert_outbox (receiver_id, group_key) WHERE status = 'waiting';
      CREATE INDEX alert_outbox_due ON alert_outbox (status, due_at);
      CREATE TABLE alert_groups (
        receiver_id TEXT    NOT NULL,
        group_key   TEXT    NOT NULL,
        body        TEXT    NOT NULL,
        PRIMARY KEY (receiver_id, group_key)
      ) WITHOUT ROWID;
    `,
  },
  compactMigration,
  {
    version: 15,
    name: "automatic replays of dead letters",
    // Failed automatic replays: the backoff before the next one and the cap (storage/auto-replay.ts).
    sql: "ALTER TABLE dead_letters ADD COLUMN auto_replays INTEGER NOT NULL DEFAULT 0",
  },
  compactRollupsMigration,
  {
    version: 17,
    name: "idempotency records in creation order",
    // Keyed by (key_id, idem_key) as a WITHOUT ROWID table, every record of a group commit went
    // into a random leaf of a table whose rows carry the whole response body, plus a second
    // B-tree for the expiry. As a rowid table the records are appended; only the small unique
    // index takes random inserts, and the purge deletes a rowid range from the front
    // (`purgeIdempotencyRecords`), so no expiry index is needed. Records live at most one TTL
    // (24 h by default), which bounds the copy.
    sql: `
      CREATE TABLE idempotency_records_v17 (
        key_id       TEXT    NOT NULL,
        idem_key     TEXT    NOT NULL,
        fingerprint  TEXT    NOT NULL,
        status       INTEGER NOT NULL,
        body         TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL
      );
      INSERT INTO idempotency_records_v17
        SELECT key_id, idem_key, fingerprint, status, body, created_at, expires_at
        FROM idempotency_records ORDER BY created_at, key_id, idem_key;
      DROP TABLE idempotency_records;
      ALTER TABLE idempotency_records_v17 RENAME TO idempotency_records;
      CREATE UNIQUE INDEX idempotency_key ON idempotency_records (key_id, idem_key);
    `,
  },
];
