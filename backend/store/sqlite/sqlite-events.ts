/**
 * The raw-event side of the SQLite store over day partitions
 * (`event-partitions.ts`): the commit with its exact dedup through
 * `event_ids`, and every read of raw events. Each read touches only the
 * partitions its time or seq range meets. Spread into the store by
 * `sqlite-store.ts`.
 */
import {
  type CommitOutcome,
  type CommittedEventPoint,
  type IdempotencyRecord,
  InactiveKeyError,
  type KeyGuard,
  StalePredictionError,
  type Store,
} from "../store.ts";
import type { StoredEvent } from "../../../shared/event.ts";
import {
  chunks,
  claimSql,
  dayOf,
  EVENT_FIELDS,
  insertRowsSql,
  partitionDdl,
  PartitionSet,
  partitionTable,
  seqOrderedUnion,
} from "./event-partitions.ts";
import { type EventRow, idempotencyStatement, type PointRow, toPoint, toStoredEvent } from "./sqlite-rows.ts";
import { GuardFailedError, type SqlDriver, type SqlStatement, type SqlValue } from "./sql-driver.ts";

const POINT_COLUMNS = "seq, device_id, event_type, value, ts, received_at, partition";
const SEQ_FLOOR = "seq_floor";

type EventMethods = Pick<
  Store,
  | "commitEvents"
  | "eventsAfter"
  | "readEventsAfter"
  | "eventPointsSince"
  | "scanEventPoints"
  | "getEvent"
  | "listEvents"
  | "findExistingEventIds"
>;

/** What the storage lifecycle (`sqlite-storage.ts`) shares with the event methods. */
export interface EventPartitionState {
  partitions: PartitionSet;
  /** Days renamed `retired_…` whose ids and table are still to be removed. */
  retired: number[];
  /** The highest seq handed out so far (never reused). */
  lastSeq(): number;
}

/** The stream_state row that remembers the highest seq when partitions holding it are dropped. */
export function seqFloorStatement(seq: number): SqlStatement {
  return {
    sql:
      "INSERT INTO stream_state (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
    args: [SEQ_FLOOR, seq],
  };
}

export async function sqliteEvents(
  driver: SqlDriver,
  checkpoint: number,
): Promise<EventMethods & { state: EventPartitionState }> {
  const { set: partitions, retired, retiredMaxSeq } = await PartitionSet.load(driver);
  const floor = await driver.all<{ value: number }>("SELECT value FROM stream_state WHERE name = ?", [
    SEQ_FLOOR,
  ]);
  // Seqs are assigned here (this process is the database's only writer) rather than by SQLite's
  // rowid, so a number is never reused, even after the newest rows were dropped with their
  // partition: the rollup checkpoint relies on it.
  let nextSeq = Math.max(partitions.maxSeq(), retiredMaxSeq, checkpoint, floor[0]?.value ?? 0) + 1;

  return {
    state: { partitions, retired, lastSeq: () => nextSeq - 1 },

    async commitEvents(events, records = [], keys) {
      const firstSeq = nextSeq;
      nextSeq += events.length;
      if (events.length === 0 && records.length === 0) return { outcomes: [], firstSeq };
      // Guards first, before anything of this transaction is written; `guarded[i]` is what the
      // guard at statement i protects (-1: the keys, else the index of a record).
      const statements: SqlStatement[] = keys?.ids.length ? [activeKeysGuard(keys)] : [];
      const guarded: number[] = statements.map(() => -1);
      records.forEach((r, i) => {
        if (r.predictedNewIds === undefined) return;
        statements.push(predictionGuard(r, r.predictedNewIds));
        guarded.push(i);
      });
      const created = new Set<number>();
      const days = events.map((e) => {
        const day = dayOf(e.timestamp);
        if (!partitions.has(day) && !created.has(day)) {
          created.add(day);
          for (const sql of partitionDdl(day)) statements.push({ sql, args: [] });
        }
        return day;
      });
      // Multi-row statements in power-of-two chunks (few distinct SQL texts to cache): the ids are
      // claimed in input order, so the first of two equal ids in one batch wins; then each day's
      // rows go in where their own claim holds (`claimed` matches id and seq).
      const claims: number[] = [];
      for (const [from, n] of chunks(0, events.length)) {
        const args: SqlValue[] = [];
        for (let i = from; i < from + n; i++) args.push(events[i].id, days[i], firstSeq + i);
        claims.push(statements.length);
        statements.push({ sql: claimSql(n), args });
      }
      const byDay = new Map<number, number[]>();
      days.forEach((d, i) => byDay.get(d)?.push(i) ?? byDay.set(d, [i]));
      for (const [day, indexes] of byDay) {
        for (const [from, n] of chunks(0, indexes.length)) {
          const args: SqlValue[] = [];
          for (let k = from; k < from + n; k++) {
            const i = indexes[k];
            const e = events[i];
            args.push(
              firstSeq + i,
              e.id,
              e.deviceId,
              e.eventType,
              e.value,
              e.timestamp,
              e.receivedAt,
              e.partition,
              e.metadata ? JSON.stringify(e.metadata) : null,
              e.data ? JSON.stringify(e.data) : null,
            );
          }
          statements.push({ sql: insertRowsSql(day, n), args });
        }
      }
      for (const r of records) statements.push(idempotencyStatement(r));
      const changes = await driver.writeBatch(statements).catch((error) => {
        if (!(error instanceof GuardFailedError)) throw error;
        const record = guarded[error.statement] ?? -1;
        throw record < 0 ? new InactiveKeyError() : new StalePredictionError(record);
      });
      for (const day of created) partitions.add(day);
      const claimed = claims.reduce((sum, at) => sum + changes[at], 0);
      // Every id new (the common case): all accepted. Otherwise ask `event_ids` which claims hold.
      let holds = (_i: number) => true;
      if (claimed !== events.length) {
        const owner = new Map<string, number>();
        for (let i = 0; i < events.length; i += 500) {
          const ids = events.slice(i, i + 500).map((e) => e.id);
          const rows = await driver.all<{ id: string; seq: number }>(
            `SELECT id, seq FROM event_ids WHERE id IN (${ids.map(() => "?").join(", ")})`,
            ids,
          );
          for (const r of rows) owner.set(r.id, r.seq);
        }
        holds = (i) => owner.get(events[i].id) === firstSeq + i;
      }
      const outcomes = events.map((_, i): CommitOutcome => {
        if (!holds(i)) return "duplicate";
        partitions.noteSeq(days[i], firstSeq + i);
        return "accepted";
      });
      return { outcomes, firstSeq };
    },

    async eventsAfter(afterSeq, limit) {
      const days = partitions.withSeqAbove(afterSeq);
      if (days.length === 0) return [];
      const q = seqOrderedUnion(days, POINT_COLUMNS, "seq > ?", [afterSeq], limit);
      return (await driver.all<PointRow>(q.sql, q.args)).map(toPoint);
    },

    async readEventsAfter(afterSeq, limit) {
      const days = partitions.withSeqAbove(afterSeq);
      if (days.length === 0) return [];
      const q = seqOrderedUnion(days, EVENT_FIELDS, "seq > ?", [afterSeq], limit);
      return (await driver.all<EventRow>(q.sql, q.args)).map(toStoredEvent);
    },

    async eventPointsSince(fromTs, limit) {
      const days = partitions.overlapping(fromTs);
      if (days.length === 0) return [];
      const q = seqOrderedUnion(days, POINT_COLUMNS, "ts >= ?", [fromTs], limit);
      return (await driver.all<PointRow>(q.sql, q.args)).map(toPoint);
    },

    async scanEventPoints(query) {
      const days = partitions.overlapping(query.from, query.to);
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
      const points: CommittedEventPoint[] = [];
      for (const day of days) {
        const left = query.limit - points.length;
        if (left <= 0) break;
        const rows = await driver.all<PointRow>(
          `SELECT ${POINT_COLUMNS} FROM ${partitionTable(day)} WHERE ${where.join(" AND ")} LIMIT ?`,
          [...args, left],
        );
        for (const r of rows) points.push(toPoint(r));
      }
      return points;
    },

    async getEvent(id) {
      const refs = await driver.all<{ day: number; seq: number }>(
        "SELECT day, seq FROM event_ids WHERE id = ?",
        [id],
      );
      if (!refs.length || !partitions.has(refs[0].day)) return null;
      const rows = await driver.all<EventRow>(
        `SELECT ${EVENT_FIELDS} FROM ${partitionTable(refs[0].day)} WHERE seq = ?`,
        [refs[0].seq],
      );
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
      const asc = query.order === "asc";
      let lower = query.from;
      let upper = query.to;
      if (query.after) {
        // The plain bound first, so the index range starts at the position, not at `from`.
        where.push(asc ? "ts >= ?" : "ts <= ?");
        where.push(asc ? "(ts > ? OR (ts = ? AND seq > ?))" : "(ts < ? OR (ts = ? AND seq < ?))");
        args.push(query.after.timestamp, query.after.timestamp, query.after.timestamp, query.after.seq);
        if (asc) lower = Math.max(lower ?? -Infinity, query.after.timestamp);
        else upper = Math.min(upper ?? Infinity, query.after.timestamp + 1);
      }
      const clause = where.length ? `WHERE ${where.join(" AND ")}` : "";
      const order = asc ? "ts ASC, seq ASC" : "ts DESC, seq DESC";
      // In listing order partition by partition; each later one holds only later events (in that
      // order), so stop once full.
      const days = partitions.overlapping(lower, upper);
      if (!asc) days.reverse();
      const out: StoredEvent[] = [];
      for (const day of days) {
        const left = query.limit - out.length;
        if (left <= 0) break;
        const rows = await driver.all<EventRow>(
          `SELECT ${EVENT_FIELDS} FROM ${partitionTable(day)} ${clause} ORDER BY ${order} LIMIT ?`,
          [...args, left],
        );
        for (const r of rows) out.push(toStoredEvent(r));
      }
      return out;
    },

    async findExistingEventIds(ids) {
      const found = new Set<string>();
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        const rows = await driver.all<{ id: string }>(
          `SELECT id FROM event_ids WHERE id IN (${chunk.map(() => "?").join(", ")})`,
          chunk,
        );
        for (const r of rows) found.add(r.id);
      }
      return found;
    },
  };
}

/** A guard that holds while every key of `keys` is active (see `Store.commitEvents`). */
function activeKeysGuard(keys: KeyGuard): SqlStatement {
  const ids = [...new Set(keys.ids)];
  return {
    // One SQL text whatever the number of keys, so one prepared statement.
    sql: "SELECT id FROM api_keys WHERE id IN (SELECT value FROM json_each(?)) AND revoked_at IS NULL" +
      " AND (expires_at IS NULL OR expires_at > ?)",
    args: [JSON.stringify(ids), keys.now],
    expectRows: ids.length,
  };
}

/** A guard that holds while the prediction behind `record` holds (see `IdempotencyRecord`). */
function predictionGuard(record: IdempotencyRecord, newIds: readonly string[]): SqlStatement {
  return {
    sql: "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM idempotency_records WHERE key_id = ? AND idem_key = ?" +
      " AND expires_at > ?) AND NOT EXISTS (SELECT 1 FROM event_ids WHERE id IN (SELECT value FROM json_each(?)))",
    args: [record.keyId, record.idemKey, record.createdAt, JSON.stringify(newIds)],
    expectRows: 1,
  };
}
