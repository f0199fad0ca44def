/**
 * The `Store` on SQLite. All SQL of the embedded engine lives here and in
 * `migrations.ts`; the driver underneath is a `SqlDriver` (node:sqlite or
 * libSQL), so this file is the same on every runtime.
 */
import type { EnrichedEvent, StoredEvent } from "../../../shared/event.ts";
import type {
  ApiKeyRecord,
  AuditEntry,
  CommitOutcome,
  IdempotencyRecord,
  Store,
  StoreStats,
} from "../store.ts";
import { MIGRATIONS } from "./migrations.ts";
import type { SqlDriver, SqlStatement, SqlValue } from "./sql-driver.ts";

export interface SqliteStoreOptions {
  driver: SqlDriver;
}

interface EventRow {
  seq: number;
  id: string;
  device_id: string;
  event_type: string;
  value: number | null;
  ts: number;
  received_at: number;
  partition: number;
  metadata: string | null;
  data: string | null;
}

interface IdempotencyRow {
  key_id: string;
  idem_key: string;
  fingerprint: string;
  status: number;
  body: string;
  created_at: number;
  expires_at: number;
}

interface AuditRow {
  seq: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  address: string | null;
  details: string | null;
}

interface KeyRow {
  id: string;
  name: string;
  key_hash: string;
  scopes: string;
  created_at: number;
  last_used_at: number | null;
  expires_at: number | null;
  revoked_at: number | null;
  rate_per_second: number | null;
  rate_burst: number | null;
}

const INSERT_EVENT = `INSERT INTO events
  (id, device_id, event_type, value, ts, received_at, partition, metadata, data)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`;
const EVENT_COLUMNS = "seq, id, device_id, event_type, value, ts, received_at, partition, metadata, data";

/** Opens the store on `driver` and applies pending migrations. */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const { driver } = options;
  await migrate(driver);

  return {
    engine: `sqlite (${driver.name})`,

    async commitEvents(events, records = []) {
      if (events.length === 0 && records.length === 0) return [];
      const changes = await driver.writeBatch([
        ...events.map(insertStatement),
        ...records.map(idempotencyStatement),
      ]);
      changes.length = events.length;
      return changes.map((n): CommitOutcome => (n === 1 ? "accepted" : "duplicate"));
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

function insertStatement(e: EnrichedEvent): SqlStatement {
  return {
    sql: INSERT_EVENT,
    args: [
      e.id,
      e.deviceId,
      e.eventType,
      e.value,
      e.timestamp,
      e.receivedAt,
      e.partition,
      e.metadata ? JSON.stringify(e.metadata) : null,
      e.data ? JSON.stringify(e.data) : null,
    ],
  };
}

function toStoredEvent(r: EventRow): StoredEvent {
  return {
    seq: r.seq,
    id: r.id,
    deviceId: r.device_id,
    eventType: r.event_type,
    value: r.value,
    timestamp: r.ts,
    receivedAt: r.received_at,
    partition: r.partition,
    metadata: r.metadata === null ? null : JSON.parse(r.metadata),
    data: r.data === null ? null : JSON.parse(r.data),
  };
}

function toApiKey(r: KeyRow): ApiKeyRecord {
  return {
    id: r.id,
    name: r.name,
    keyHash: r.key_hash,
    scopes: r.scopes.split(",").filter(Boolean),
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    rateLimit: r.rate_per_second === null || r.rate_burst === null
      ? null
      : { ratePerSecond: r.rate_per_second, burst: r.rate_burst },
  };
}

function idempotencyStatement(r: IdempotencyRecord): SqlStatement {
  return {
    sql: `INSERT OR REPLACE INTO idempotency_records
            (key_id, idem_key, fingerprint, status, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    args: [r.keyId, r.idemKey, r.fingerprint, r.status, r.body, r.createdAt, r.expiresAt],
  };
}
