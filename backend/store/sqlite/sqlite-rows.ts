/**
 * Row shapes of the SQLite tables and their mapping to and from the `Store`
 * port's records, kept apart from the store's queries (`sqlite-store.ts`).
 * Raw event rows have their own encoding (`event-encoding.ts`).
 */
import type { AggState } from "../../stream/aggregate.ts";
import type { ApiKeyRecord, IdempotencyRecord, ImportJobRecord } from "../store.ts";
import type { SqlStatement, SqlValue } from "./sql-driver.ts";
import { chunks } from "./event-partitions.ts";

export interface IdempotencyRow {
  key_id: string;
  idem_key: string;
  fingerprint: string;
  status: number;
  body: string;
  created_at: number;
  expires_at: number;
}

export interface AuditRow {
  seq: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  address: string | null;
  details: string | null;
}

export interface KeyRow {
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

export interface StateColumns {
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

export interface RollupRow extends StateColumns {
  event_type: string;
  resolution: number;
  device_id: string;
  start: number;
}

export interface SeriesRow extends StateColumns {
  event_type: string;
  device_id: string;
}

export interface ImportJobRow {
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

/** The all-device series is stored under this device id (real device ids are never empty). */
export const ALL_DEVICES = "";

export function toApiKey(r: KeyRow): ApiKeyRecord {
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

/**
 * The statements that write `records`: one multi-row statement per power-of-two chunk, so a group
 * commit of many idempotent requests runs a handful of statements rather than one per request,
 * from a few SQL texts.
 * - `"replace"`: insert, replacing any record of the same key (the replacement is appended).
 * - `"predicted"`: the records of a commit's predictions (see `IdempotencyRecord`), each statement
 *   a guard on its own effect: a record goes in when its key has no record yet or only an expired
 *   one (at the record's `createdAt`, replaced in place), so a statement that changed fewer rows
 *   than it has records met a stale prediction and rolls the commit back. The other half of a
 *   prediction, that none of its ids is stored, is the claims' guard (`claimChunks`).
 */
export function idempotencyStatements(
  records: readonly IdempotencyRecord[],
  mode: "replace" | "predicted" = "replace",
): SqlStatement[] {
  return chunks(0, records.length).map(([from, n]) => {
    const args: SqlValue[] = [];
    for (let i = from; i < from + n; i++) {
      const r = records[i];
      args.push(r.keyId, r.idemKey, r.fingerprint, r.status, r.body, r.createdAt, r.expiresAt);
    }
    return mode === "replace"
      ? { sql: recordsSql(n, mode), args }
      : { sql: recordsSql(n, mode), args, expectChanges: n };
  });
}

const recordsSqlCache = new Map<string, string>();
function recordsSql(n: number, mode: "replace" | "predicted"): string {
  const key = `${mode} ${n}`;
  let sql = recordsSqlCache.get(key);
  if (sql === undefined) {
    sql = `INSERT${mode === "replace" ? " OR REPLACE" : ""} INTO idempotency_records` +
      " (key_id, idem_key, fingerprint, status, body, created_at, expires_at) VALUES " +
      Array(n).fill("(?, ?, ?, ?, ?, ?, ?)").join(", ") +
      (mode === "replace"
        ? ""
        : " ON CONFLICT (key_id, idem_key) DO UPDATE SET fingerprint = excluded.fingerprint," +
          " status = excluded.status, body = excluded.body, created_at = excluded.created_at," +
          " expires_at = excluded.expires_at WHERE idempotency_records.expires_at <= excluded.created_at");
    recordsSqlCache.set(key, sql);
  }
  return sql;
}

export function toState(r: StateColumns): AggState {
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

export function stateArgs(s: AggState): SqlValue[] {
  return [s.count, s.valueCount, s.sum, s.min, s.max, s.lastValue, s.lastTs, s.lastSeq, s.minTs, s.maxTs];
}

export function toImportJob(r: ImportJobRow): ImportJobRecord {
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
