/**
 * The `Store` on SQLite. All SQL of the embedded engine lives here and in
 * `migrations.ts`; the driver underneath is a `SqlDriver` (node:sqlite or
 * libSQL), so this file is the same on every runtime.
 */
import type { EnrichedEvent, StoredEvent } from "../../../shared/event.ts";
import { type AggState, mergeStates, SCALAR_FIELDS } from "../../stream/aggregate.ts";
import type {
  ApiKeyRecord,
  AuditEntry,
  CommitOutcome,
  CommittedEventPoint,
  IdempotencyRecord,
  ImportJobRecord,
  RollupColumns,
  RollupRecord,
  SeriesRecord,
  Store,
  StoreStats,
} from "../store.ts";
import { MIGRATIONS } from "./migrations.ts";
import { CHUNK_SLOTS, RollupColumnCache } from "./rollup-cache.ts";
import type { SqlDriver, SqlStatement, SqlValue } from "./sql-driver.ts";

export interface SqliteStoreOptions {
  driver: SqlDriver;
  /** Memory for cached scalar rollup columns (see rollup-cache.ts), bytes; default 256 MiB. */
  rollupCacheBytes?: number;
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

interface StateColumns {
  count: number;
  value_count: number;
  sum: number;
  min: number | null;
  max: number | null;
  last_value: number | null;
  last_ts: number | null;
  last_seq: number | null;
  min_ts: number | null;
  max_ts: number | null;
  sketch?: Uint8Array | null;
  devices?: Uint8Array | null;
}

interface RollupRow extends StateColumns {
  event_type: string;
  resolution: number;
  device_id: string;
  start: number;
}

interface SeriesRow extends StateColumns {
  event_type: string;
  device_id: string;
}

interface ImportJobRow {
  id: string;
  key_id: string;
  state: ImportJobRecord["state"];
  format: ImportJobRecord["format"];
  bytes_read: number;
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  errors: string;
  failure: string | null;
  started_at: number;
  updated_at: number;
  finished_at: number | null;
}

interface PointRow {
  seq: number;
  device_id: string;
  event_type: string;
  value: number | null;
  ts: number;
  received_at: number;
  partition: number;
}

const INSERT_EVENT = `INSERT INTO events
  (seq, id, device_id, event_type, value, ts, received_at, partition, metadata, data)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`;
const SCALAR_COLUMNS = "count, value_count, sum, min, max, last_value, last_ts, last_seq, min_ts, max_ts";
const ROLLUP_KEY = "event_type, resolution, device_id, start";
const POINT_COLUMNS = "seq, device_id, event_type, value, ts, received_at, partition";
/** The all-device series is stored under this device id (real device ids are never empty). */
const ALL_DEVICES = "";
const CHECKPOINT = "rollup_checkpoint";
/** Longest stretch of rollup-flush work between yields to the event loop, ms. */
const FLUSH_SLICE_MS = 4;
const EVENT_COLUMNS = "seq, id, device_id, event_type, value, ts, received_at, partition, metadata, data";
const IMPORT_JOB_COLUMNS =
  "id, key_id, state, format, bytes_read, lines, accepted, duplicates, rejected, errors, failure, started_at, updated_at, finished_at";

/** Opens the store on `driver` and applies pending migrations. */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const { driver } = options;
  await migrate(driver);
  const readCheckpoint = async () => {
    const rows = await driver.all<{ value: number }>("SELECT value FROM stream_state WHERE name = ?", [
      CHECKPOINT,
    ]);
    return rows.length ? rows[0].value : 0;
  };
  // Seqs are assigned here (this process is the database's only writer) rather than by SQLite's
  // rowid, so a number is never reused, even after the newest rows were deleted: the rollup
  // checkpoint relies on it.
  const [{ top }] = await driver.all<{ top: number | null }>("SELECT max(seq) AS top FROM events");
  let nextSeq = Math.max(top ?? 0, await readCheckpoint()) + 1;
  const cache = new RollupColumnCache(options.rollupCacheBytes ?? 256 * 2 ** 20);
  const loadChunk = async (eventType: string, resolution: number, device: string, chunkStart: number) => {
    const key = RollupColumnCache.key(eventType, resolution, device, chunkStart);
    const cached = cache.get(key);
    if (cached) return cached;
    const generation = cache.generation;
    const rows = await driver.all<RollupRow>(
      `SELECT start, ${SCALAR_COLUMNS} FROM rollups
        WHERE event_type = ? AND resolution = ? AND device_id = ? AND start >= ? AND start < ?`,
      [eventType, resolution, device, chunkStart, chunkStart + CHUNK_SLOTS * resolution],
    );
    const chunk = rows.length ? RollupColumnCache.emptyChunk() : RollupColumnCache.EMPTY;
    for (const row of rows) {
      RollupColumnCache.setSlot(chunk, (row.start - chunkStart) / resolution, toState(row));
    }
    cache.put(key, chunk, generation);
    return chunk;
  };

  return {
    engine: `sqlite (${driver.name})`,

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
      for (const r of flush.rollups) {
        await breathe();
        const device = r.deviceId ?? ALL_DEVICES;
        const rows = await driver.all<RollupRow>(
          `SELECT ${SCALAR_COLUMNS}, sketch, devices FROM rollups
            WHERE event_type = ? AND resolution = ? AND device_id = ? AND start = ?`,
          [r.eventType, r.resolution, device, r.start],
        );
        const state = rows.length ? mergeStates(toState(rows[0]), r.state) : r.state;
        merged.push(state);
        statements.push({
          sql: `INSERT OR REPLACE INTO rollups (${ROLLUP_KEY}, ${SCALAR_COLUMNS}, sketch, devices)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          args: [
            r.eventType,
            r.resolution,
            device,
            r.start,
            ...stateArgs(state),
            state.sketch,
            state.devices,
          ],
        });
      }
      for (const s of flush.series) {
        await breathe();
        const device = s.deviceId ?? ALL_DEVICES;
        const rows = await driver.all<SeriesRow>(
          `SELECT ${SCALAR_COLUMNS} FROM series WHERE event_type = ? AND device_id = ?`,
          [s.eventType, device],
        );
        const state = rows.length ? mergeStates(toState(rows[0]), s.state) : s.state;
        statements.push({
          sql: `INSERT OR REPLACE INTO series (event_type, device_id, ${SCALAR_COLUMNS})
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          args: [s.eventType, device, ...stateArgs(state)],
        });
      }
      statements.push({
        sql: "INSERT OR REPLACE INTO stream_state (name, value) VALUES (?, ?)",
        args: [CHECKPOINT, flush.checkpoint],
      });
      await driver.writeBatch(statements);
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

    rollupCheckpoint: readCheckpoint,

    async readRollups(query) {
      const columns = `${ROLLUP_KEY}, ${SCALAR_COLUMNS}${query.sketches ? ", sketch, devices" : ""}`;
      const out: RollupRecord[] = [];
      for (const deviceId of query.deviceIds) {
        const rows = await driver.all<RollupRow>(
          `SELECT ${columns} FROM rollups
            WHERE event_type = ? AND resolution = ? AND device_id = ? AND start >= ? AND start < ?
            ORDER BY start`,
          [query.eventType, query.resolution, deviceId ?? ALL_DEVICES, query.from, query.to],
        );
        for (const row of rows) out.push(toRollup(row));
      }
      return out;
    },

    async readRollupsEndingAfter(since, resolutions) {
      const out: RollupRecord[] = [];
      for (const resolution of resolutions) {
        const rows = await driver.all<RollupRow>(
          `SELECT ${ROLLUP_KEY}, ${SCALAR_COLUMNS}, sketch, devices FROM rollups
            WHERE resolution = ? AND start > ?`,
          [resolution, since - resolution],
        );
        for (const row of rows) out.push(toRollup(row));
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

function insertStatement(e: EnrichedEvent, seq: number): SqlStatement {
  return {
    sql: INSERT_EVENT,
    args: [
      seq,
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
    ...toPoint(r),
    id: r.id,
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

function toPoint(r: PointRow): CommittedEventPoint {
  return {
    seq: r.seq,
    deviceId: r.device_id,
    eventType: r.event_type,
    value: r.value,
    timestamp: r.ts,
    receivedAt: r.received_at,
    partition: r.partition,
  };
}

function toState(r: StateColumns): AggState {
  return {
    count: r.count,
    valueCount: r.value_count,
    sum: r.sum,
    min: r.min,
    max: r.max,
    lastValue: r.last_value,
    lastTs: r.last_ts,
    lastSeq: r.last_seq,
    minTs: r.min_ts,
    maxTs: r.max_ts,
    sketch: r.sketch ?? null,
    devices: r.devices ?? null,
  };
}

function stateArgs(s: AggState): SqlValue[] {
  return [s.count, s.valueCount, s.sum, s.min, s.max, s.lastValue, s.lastTs, s.lastSeq, s.minTs, s.maxTs];
}

function toRollup(r: RollupRow): RollupRecord {
  return {
    resolution: r.resolution,
    eventType: r.event_type,
    deviceId: r.device_id === ALL_DEVICES ? null : r.device_id,
    start: r.start,
    state: toState(r),
  };
}

function toImportJob(r: ImportJobRow): ImportJobRecord {
  return {
    id: r.id,
    keyId: r.key_id,
    state: r.state,
    format: r.format,
    bytesRead: r.bytes_read,
    lines: r.lines,
    accepted: r.accepted,
    duplicates: r.duplicates,
    rejected: r.rejected,
    errors: JSON.parse(r.errors),
    failure: r.failure,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}
