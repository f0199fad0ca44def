/**
 * The `Store` on SQLite. All SQL of the embedded engine lives here, in
 * `sqlite-rollups.ts` (the rollup tables), `migrations.ts` and the row
 * mappings of `sqlite-rows.ts`; the driver underneath is a `SqlDriver`
 * (node:sqlite or libSQL), so these files are the same on every runtime.
 */
import type { AuditEntry, CommitOutcome, IdempotencyRecord, Store, StoreStats } from "../store.ts";
import { MIGRATIONS } from "./migrations.ts";
import { sqliteRollups } from "./sqlite-rollups.ts";
import { sqliteAlerts } from "./sqlite-alerts.ts";
import {
  type AuditRow,
  type EventRow,
  type IdempotencyRow,
  idempotencyStatement,
  type ImportJobRow,
  insertStatement,
  type KeyRow,
  type PointRow,
  toApiKey,
  toImportJob,
  toPoint,
  toStoredEvent,
} from "./sqlite-rows.ts";
import type { SqlDriver, SqlStatement, SqlValue } from "./sql-driver.ts";

export interface SqliteStoreOptions {
  driver: SqlDriver;
  /** Memory for cached scalar rollup columns (see rollup-cache.ts), bytes; default 256 MiB. */
  rollupCacheBytes?: number;
}

const POINT_COLUMNS = "seq, device_id, event_type, value, ts, received_at, partition";
const EVENT_COLUMNS = "seq, id, device_id, event_type, value, ts, received_at, partition, metadata, data";
const IMPORT_JOB_COLUMNS =
  "id, key_id, state, format, bytes_read, lines, accepted, duplicates, rejected, errors, failure, started_at, updated_at, finished_at";

/** Opens the store on `driver` and applies pending migrations. */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const { driver } = options;
  await migrate(driver);
  const rollups = sqliteRollups(driver, options.rollupCacheBytes ?? 256 * 2 ** 20);
  // Seqs are assigned here (this process is the database's only writer) rather than by SQLite's
  // rowid, so a number is never reused, even after the newest rows were deleted: the rollup
  // checkpoint relies on it.
  const [{ top }] = await driver.all<{ top: number | null }>("SELECT max(seq) AS top FROM events");
  let nextSeq = Math.max(top ?? 0, await rollups.rollupCheckpoint()) + 1;

  return {
    engine: `sqlite (${driver.name})`,
    ...rollups,
    alerts: sqliteAlerts(driver),

    async commitEvents(events, records = []) {
      const firstSeq = nextSeq;
      nextSeq += events.length;
      if (events.length === 0 && records.length === 0) return { outcomes: [], firstSeq };
      const changes = await driver.writeBatch([
        ...events.map((e, i) => insertStatement(e, firstSeq + i)),
        ...records.map(idempotencyStatement),
      ]);
      changes.length = events.length;
      return { outcomes: changes.map((n): CommitOutcome => (n === 1 ? "accepted" : "duplicate")), firstSeq };
    },

    async eventsAfter(afterSeq, limit) {
      const rows = await driver.all<PointRow>(
        `SELECT ${POINT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
        [afterSeq, limit],
      );
      return rows.map(toPoint);
    },

    async readEventsAfter(afterSeq, limit) {
      const rows = await driver.all<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
        [afterSeq, limit],
      );
      return rows.map(toStoredEvent);
    },

    async eventPointsSince(fromTs, limit) {
      const rows = await driver.all<PointRow>(
        `SELECT ${POINT_COLUMNS} FROM events WHERE ts >= ? ORDER BY seq LIMIT ?`,
        [fromTs, limit],
      );
      return rows.map(toPoint);
    },

    async scanEventPoints(query) {
      const where = ["ts >= ?", "ts < ?", "event_type = ?"];
      const args: SqlValue[] = [query.from, query.to, query.eventType];
      if (query.deviceIds) {
        where.push(`device_id IN (${query.deviceIds.map(() => "?").join(", ")})`);
        args.push(...query.deviceIds);
      }
      for (const [key, value] of query.metadata ?? []) {
        // Text tags compare as text, numeric tags by number, booleans by their JSON text.
        const path = `$."${key.replaceAll('"', '""')}"`;
        const number = Number(value);
        where.push(`(CASE json_type(metadata, ?)
            WHEN 'text' THEN json_extract(metadata, ?) = ?
            WHEN 'integer' THEN json_extract(metadata, ?) = ?
            WHEN 'real' THEN json_extract(metadata, ?) = ?
            WHEN 'true' THEN ? = 'true'
            WHEN 'false' THEN ? = 'false'
            ELSE 0 END)`);
        const n = value.trim() !== "" && Number.isFinite(number) ? number : null;
        args.push(path, path, value, path, n, path, n, value, value);
      }
      const rows = await driver.all<PointRow>(
        `SELECT ${POINT_COLUMNS} FROM events WHERE ${where.join(" AND ")} LIMIT ?`,
        [...args, query.limit],
      );
      return rows.map(toPoint);
    },

    async getEvent(id) {
      const rows = await driver.all<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ?`, [id]);
      return rows.length ? toStoredEvent(rows[0]) : null;
    },

    async listEvents(query) {
      const where: string[] = [];
      const args: SqlValue[] = [];
      const filters: [string, SqlValue | undefined][] = [
        ["device_id = ?", query.deviceId],
        ["event_type = ?", query.eventType],
        ["ts >= ?", query.from],
        ["ts < ?", query.to],
      ];
      for (const [clause, value] of filters) {
        if (value === undefined) continue;
        where.push(clause);
        args.push(value);
      }
      if (query.after) {
        where.push("(ts < ? OR (ts = ? AND seq < ?))");
        args.push(query.after.timestamp, query.after.timestamp, query.after.seq);
      }
      const sql = `SELECT ${EVENT_COLUMNS} FROM events ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
        ORDER BY ts DESC, seq DESC LIMIT ?`;
      const rows = await driver.all<EventRow>(sql, [...args, query.limit]);
      return rows.map(toStoredEvent);
    },

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
      await driver.writeBatch(records.map(idempotencyStatement));
    },

    async findExistingEventIds(ids) {
      const found = new Set<string>();
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        const rows = await driver.all<{ id: string }>(
          `SELECT id FROM events WHERE id IN (${chunk.map(() => "?").join(", ")})`,
          chunk,
        );
        for (const r of rows) found.add(r.id);
      }
      return found;
    },

    async purgeIdempotencyRecords(now) {
      const [changes] = await driver.writeBatch([{
        sql: "DELETE FROM idempotency_records WHERE expires_at <= ?",
        args: [now],
      }]);
      return changes;
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
      const [count] = await driver.all<{ n: number }>("SELECT count(*) AS n FROM events");
      if (!driver.local) return { events: count.n, bytes: 0 };
      const [size] = await driver.all<{ bytes: number }>(
        "SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()",
      );
      return { events: count.n, bytes: size.bytes };
    },

    close: () => driver.close(),
  };
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
    const statements: SqlStatement[] = splitStatements(m.sql).map((sql) => ({ sql, args: [] }));
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
