/**
 * The `Store` on SQLite. All SQL of the embedded engine lives here, in
 * `sqlite-rollups.ts` (the rollup tables), `migrations.ts` and the row
 * mappings of `sqlite-rows.ts`; the driver underneath is a `SqlDriver`
 * (node:sqlite or libSQL), so these files are the same on every runtime.
 */
import type { AuditEntry, IdempotencyRecord, Store, StoreStats } from "../store.ts";
import { EventDictionary, type NameKind } from "./event-dictionary.ts";
import { EventCodec, type PayloadCodec } from "./event-encoding.ts";
import { MIGRATIONS } from "./migrations.ts";
import { sqliteDeadLetters } from "./sqlite-dead-letters.ts";
import { sqliteEvents } from "./sqlite-events.ts";
import { sqliteStorage } from "./sqlite-storage.ts";
import { sqliteRollups } from "./sqlite-rollups.ts";
import { OldRollups, RollupNames } from "./rollup-layout.ts";
import { sqliteAlerts } from "./sqlite-alerts.ts";
import {
  type AuditRow,
  type IdempotencyRow,
  idempotencyStatements,
  type ImportJobRow,
  type KeyRow,
  toApiKey,
  toImportJob,
} from "./sqlite-rows.ts";
import type { SqlDriver, SqlStatement } from "./sql-driver.ts";

export interface SqliteStoreOptions {
  driver: SqlDriver;
  /** Memory for cached scalar rollup columns (see rollup-cache.ts), bytes; default 256 MiB. */
  rollupCacheBytes?: number;
  /**
   * Compresses event payloads from `COMPRESS_PAYLOAD_CHARS` on (event-encoding.ts); without one
   * payloads are stored as JSON text, and a compressed payload cannot be read.
   */
  payloadCodec?: PayloadCodec;
  /** Most dictionary codes per kind (event-dictionary.ts; default `DEFAULT_DICTIONARY_CAPS`). */
  dictionaryCaps?: Partial<Record<NameKind, number>>;
}

/** Expired idempotency records deleted per transaction. */
export const PURGE_BATCH = 5_000;

const IMPORT_JOB_COLUMNS =
  "id, key_id, state, format, bytes_read, lines, accepted, duplicates, rejected, errors, failure, started_at, updated_at, finished_at";

/** Opens the store on `driver` and applies pending migrations. */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  await migrate(options.driver);
  return (await openStore(options)).store;
}

/** A store on a read connection beside the process that writes the database (`openSqliteReader`). */
export interface SqliteReader {
  /** Read methods only: its connection is `query_only`. Call each inside `snapshot`. */
  store: Store;
  /**
   * Runs `read` in one read transaction, after loading the dictionary codes and partitions the
   * writer added since the last call: rows and names then come from the same snapshot, so a row
   * never names a code this reader does not know. Calls are serialised (one connection).
   */
  snapshot<T>(read: () => Promise<T>): Promise<T>;
}

/**
 * Opens the store for reading on `driver`, a second connection to a database that another
 * connection writes (a reader worker): no migrations, no rollup cache (the writer's flushes would
 * leave it stale), and `snapshot` to see what the writer committed.
 */
export async function openSqliteReader(options: SqliteStoreOptions): Promise<SqliteReader> {
  const { driver } = options;
  const { store, dictionary, partitions, oldRollups } = await openStore({ ...options, rollupCacheBytes: 0 });
  let queue: Promise<unknown> = Promise.resolve();
  const run = async <T>(read: () => Promise<T>): Promise<T> => {
    await driver.exec("BEGIN");
    try {
      await dictionary.refresh(driver);
      await partitions.reload(driver);
      await oldRollups.recheck();
      return await read();
    } finally {
      await driver.exec("COMMIT");
    }
  };
  return {
    store,
    snapshot<T>(read: () => Promise<T>): Promise<T> {
      const result = queue.then(() => run(read));
      queue = result.catch(() => {});
      return result;
    },
  };
}

async function openStore(options: SqliteStoreOptions) {
  const { driver } = options;
  const dictionary = await EventDictionary.load(driver, options.dictionaryCaps);
  const oldRollups = await OldRollups.open(driver);
  const rollupTables = { names: new RollupNames(dictionary), old: oldRollups };
  const { forgetCached, ...rollups } = sqliteRollups(driver, {
    cacheBytes: options.rollupCacheBytes ?? 256 * 2 ** 20,
    ...rollupTables,
  });
  const codec = new EventCodec(dictionary, options.payloadCodec ?? null);
  const { state: partitions, ...events } = await sqliteEvents(
    driver,
    await rollups.rollupCheckpoint(),
    codec,
  );
  const storage = sqliteStorage(driver, partitions, { forgetCachedRollups: forgetCached, ...rollupTables });
  const deadLetters = await sqliteDeadLetters(driver);

  const store: Store = {
    engine: `sqlite (${driver.name})`,
    maxCommitsInFlight: driver.orderedWritesInFlight ?? 1,
    storage,
    deadLetters,
    ...rollups,
    alerts: sqliteAlerts(driver),
    ...events,

    async createApiKey(key) {
      await driver.writeBatch([{
        sql: `INSERT INTO api_keys
             (id, name, key_hash, scopes, created_at, last_used_at, expires_at, revoked_at, rate_per_second, rate_burst)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        args: [
          key.id,
          key.name,
          key.keyHash,
          key.scopes.join(","),
          key.createdAt,
          key.lastUsedAt,
          key.expiresAt,
          key.revokedAt,
          key.rateLimit?.ratePerSecond ?? null,
          key.rateLimit?.burst ?? null,
        ],
      }]);
    },

    async findApiKeyByHash(keyHash) {
      const rows = await driver.all<KeyRow>("SELECT * FROM api_keys WHERE key_hash = ?", [keyHash]);
      return rows.length ? toApiKey(rows[0]) : null;
    },

    async listApiKeys() {
      const rows = await driver.all<KeyRow>("SELECT * FROM api_keys ORDER BY created_at DESC, id DESC");
      return rows.map(toApiKey);
    },

    async getApiKey(id) {
      const rows = await driver.all<KeyRow>("SELECT * FROM api_keys WHERE id = ?", [id]);
      return rows.length ? toApiKey(rows[0]) : null;
    },

    async revokeApiKey(id, at) {
      await driver.writeBatch([{
        sql: "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        args: [at, id],
      }]);
      const rows = await driver.all<KeyRow>("SELECT * FROM api_keys WHERE id = ?", [id]);
      return rows.length ? toApiKey(rows[0]) : null;
    },

    async setApiKeyRateLimit(id, limit) {
      await driver.writeBatch([{
        sql: "UPDATE api_keys SET rate_per_second = ?, rate_burst = ? WHERE id = ?",
        args: [limit?.ratePerSecond ?? null, limit?.burst ?? null, id],
      }]);
      const rows = await driver.all<KeyRow>("SELECT * FROM api_keys WHERE id = ?", [id]);
      return rows.length ? toApiKey(rows[0]) : null;
    },

    async touchApiKey(id, at) {
      await driver.writeBatch([{ sql: "UPDATE api_keys SET last_used_at = ? WHERE id = ?", args: [at, id] }]);
    },

    async getIdempotencyRecord(keyId, idemKey, now) {
      const rows = await driver.all<IdempotencyRow>(
        "SELECT * FROM idempotency_records WHERE key_id = ? AND idem_key = ? AND expires_at > ?",
        [keyId, idemKey, now],
      );
      if (!rows.length) return null;
      const r = rows[0];
      return {
        keyId: r.key_id,
        idemKey: r.idem_key,
        fingerprint: r.fingerprint,
        status: r.status,
        body: r.body,
        createdAt: r.created_at,
        expiresAt: r.expires_at,
      } satisfies IdempotencyRecord;
    },

    async saveIdempotencyRecords(records) {
      if (records.length === 0) return;
      await driver.writeBatch(idempotencyStatements(records));
    },

    async purgeIdempotencyRecords(now) {
      // Records are appended in creation order (migration 17): the expired ones are a prefix of
      // the rowids, up to the first record still valid. A record that holds a later expiry than
      // the ones after it holds them back until it expires itself: one created with a longer TTL
      // (the TTL was lowered since), or one that a commit's prediction wrote over an expired
      // record of its key (`idempotencyStatements`, in place). Reads check `expires_at`, so
      // that costs disk space for at most one TTL, never an answer.
      const [first] = await driver.all<{ rowid: number }>(
        "SELECT rowid FROM idempotency_records WHERE expires_at > ? ORDER BY rowid LIMIT 1",
        [now],
      );
      const end = first?.rowid ?? Number.MAX_SAFE_INTEGER;
      let purged = 0;
      // In transactions of PURGE_BATCH rows, so that commits of events wait at most one of them.
      for (;;) {
        const [changes] = await driver.writeBatch([{
          sql: "DELETE FROM idempotency_records WHERE rowid IN" +
            " (SELECT rowid FROM idempotency_records WHERE rowid < ? ORDER BY rowid LIMIT ?)",
          args: [end, PURGE_BATCH],
        }]);
        purged += changes;
        if (changes < PURGE_BATCH) return purged;
      }
    },

    async appendAudit(entry) {
      await driver.writeBatch([{
        sql: "INSERT INTO audit_log (at, actor, action, target, address, details) VALUES (?, ?, ?, ?, ?, ?)",
        args: [
          entry.at,
          entry.actor,
          entry.action,
          entry.target,
          entry.address,
          entry.details ? JSON.stringify(entry.details) : null,
        ],
      }]);
    },

    async listAudit(query) {
      const rows = await driver.all<AuditRow>(
        `SELECT * FROM audit_log ${
          query.beforeSeq !== undefined ? "WHERE seq < ?" : ""
        } ORDER BY seq DESC LIMIT ?`,
        query.beforeSeq !== undefined ? [query.beforeSeq, query.limit] : [query.limit],
      );
      return rows.map((r): AuditEntry => ({
        seq: r.seq,
        at: r.at,
        actor: r.actor,
        action: r.action,
        target: r.target,
        address: r.address,
        details: r.details === null ? null : JSON.parse(r.details),
      }));
    },

    async countApiKeys() {
      const rows = await driver.all<{ n: number }>("SELECT count(*) AS n FROM api_keys");
      return rows[0].n;
    },

    async saveImportJob(job) {
      await driver.writeBatch([{
        sql:
          `INSERT OR REPLACE INTO import_jobs (${IMPORT_JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        args: [
          job.id,
          job.keyId,
          job.state,
          job.format,
          job.bytesRead,
          job.lines,
          job.accepted,
          job.duplicates,
          job.rejected,
          JSON.stringify(job.errors),
          job.failure,
          job.startedAt,
          job.updatedAt,
          job.finishedAt,
        ],
      }]);
    },

    async getImportJob(id) {
      const rows = await driver.all<ImportJobRow>(
        `SELECT ${IMPORT_JOB_COLUMNS} FROM import_jobs WHERE id = ?`,
        [id],
      );
      return rows.length ? toImportJob(rows[0]) : null;
    },

    async ping() {
      await driver.all("SELECT 1");
    },

    async stats(): Promise<StoreStats> {
      const [count] = await driver.all<{ n: number }>("SELECT count(*) AS n FROM event_ids");
      if (!driver.local) return { events: count.n, bytes: 0 };
      const [size] = await driver.all<{ bytes: number }>(
        "SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()",
      );
      return { events: count.n, bytes: size.bytes };
    },

    close: () => driver.close(),
  };
  return { store, dictionary, partitions: partitions.partitions, oldRollups };
}

async function migrate(driver: SqlDriver): Promise<void> {
  await driver.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
  );
  const applied = new Set(
    (await driver.all<{ version: number }>("SELECT version FROM schema_migrations")).map((r) => r.version),
  );
  for (const m of MIGRATIONS) {
    if (applied.has(m.version)) continue;
    // DDL and its bookkeeping row commit together, so a crash never leaves a half-applied version.
    const sqls = m.plan ? await m.plan(driver) : splitStatements(m.sql);
    const statements: SqlStatement[] = sqls.map((sql) => ({ sql, args: [] }));
    statements.push({
      sql: "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
      args: [m.version, m.name, Date.now()],
    });
    await driver.writeBatch(statements);
  }
}

function splitStatements(sql: string): string[] {
  return sql.split(";").map((s) => s.trim()).filter((s) => s.length > 0);
}
