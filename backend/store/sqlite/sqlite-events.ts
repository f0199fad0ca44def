/**
 * The raw-event side of the SQLite store over day partitions
 * (`event-partitions.ts`, rows encoded by `event-encoding.ts`): the commit with
 * its exact dedup through `event_ids`, and every read of raw events. Each read
 * touches only the partitions its time or seq range meets; a day dropped while
 * a read runs reads as empty. Spread into the store by `sqlite-store.ts`.
 */
import {
  type CommitOutcome,
  type CommitResult,
  type CommittedEventPoint,
  type IdempotencyRecord,
  InactiveKeyError,
  type KeyGuard,
  StalePredictionError,
  type Store,
} from "../store.ts";
import type { EnrichedEvent, StoredEvent } from "../../../shared/event.ts";
import type { Tags } from "./event-dictionary.ts";
import {
  type EventCodec,
  type EventRow,
  ID_SQL,
  ID_TEXT_SQL,
  isCanonicalUuid,
  type PointRow,
  pushId,
} from "./event-encoding.ts";
import {
  chunks,
  claimSql,
  DAY_MS,
  dayOf,
  eventColumns,
  insertRowsSql,
  partitionDdl,
  PartitionSet,
  partitionTable,
  pointColumns,
  seqOrderedUnion,
} from "./event-partitions.ts";
import { idempotencyStatements } from "./sqlite-rows.ts";
import {
  activeKeysGuard,
  claimChunks,
  KEYS_GUARD,
  SOME_RECORD_GUARD,
  staleRecordsQuery,
} from "./commit-guards.ts";
import { GuardFailedError, type SqlDriver, type SqlStatement, type SqlValue } from "./sql-driver.ts";

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

/** Whether a tag set has `key` equal to `value` as `scanEventPoints` compares (text, number, boolean). */
function tagEquals(tags: Tags, key: string, value: string, number: number | null): boolean {
  const v = tags[key];
  if (typeof v === "string") return v === value;
  if (typeof v === "number") return number !== null && v === number;
  return typeof v === "boolean" && String(v) === value;
}

export async function sqliteEvents(
  driver: SqlDriver,
  checkpoint: number,
  codec: EventCodec,
): Promise<EventMethods & { state: EventPartitionState }> {
  const { set: partitions, retired, retiredMaxSeq } = await PartitionSet.load(driver);
  const floor = await driver.all<{ value: number }>("SELECT value FROM stream_state WHERE name = ?", [
    SEQ_FLOOR,
  ]);
  const { dictionary } = codec;
  // Seqs are assigned here (this process is the database's only writer) rather than by SQLite's
  // rowid, so a number is never reused, even after the newest rows were dropped with their
  // partition: the rollup checkpoint relies on it.
  let nextSeq = Math.max(partitions.maxSeq(), retiredMaxSeq, checkpoint, floor[0]?.value ?? 0) + 1;

  /** Rows of a query on the partition of `day`; none if the day was dropped meanwhile (no such table). */
  const onDay = async <T>(day: number, sql: string, args: SqlValue[]): Promise<T[]> => {
    try {
      return await driver.all<T>(sql, args);
    } catch (error) {
      if (!partitions.has(day)) return [];
      throw error;
    }
  };
  /** A query over the partitions `days()` names; asked again without a day that was dropped meanwhile. */
  const onDays = async <T>(days: () => number[], build: (days: number[]) => SqlStatement): Promise<T[]> => {
    for (;;) {
      const now = days();
      if (now.length === 0) return [];
      const q = build(now);
      try {
        return await driver.all<T>(q.sql, q.args);
      } catch (error) {
        if (now.every((d) => partitions.has(d))) throw error;
      }
    }
  };
  const afterSeq = (columns: (day: number) => string, after: number) => (day: number) => ({
    columns: columns(day),
    where: "seq > ?",
    args: [after],
  });
  const owners = async (ids: readonly string[]) => {
    const owner = new Map<string, number>();
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const args: SqlValue[] = [];
      for (const id of chunk) pushId(args, id);
      const rows = await driver.all<{ id: string; seq: number }>(
        `SELECT ${ID_TEXT_SQL} AS id, seq FROM event_ids WHERE id IN (${chunk.map(() => ID_SQL).join(", ")})`,
        args,
      );
      for (const r of rows) owner.set(r.id, r.seq);
    }
    return owner;
  };

  const commit = async (
    events: readonly EnrichedEvent[],
    records: readonly IdempotencyRecord[],
    keys: KeyGuard | undefined,
  ): Promise<CommitResult> => {
    const firstSeq = nextSeq;
    nextSeq += events.length;
    if (events.length === 0 && records.length === 0) return { outcomes: [], firstSeq };
    // `guarded` maps each guard statement to what it protects: the keys, every predicted record,
    // or the record of that index.
    const statements: SqlStatement[] = keys?.ids.length ? [activeKeysGuard(keys)] : [];
    const guarded = new Map<number, number>(statements.map((_, i) => [i, KEYS_GUARD]));
    // Predictions are checked by the writes themselves: the claims of the predicted ids must all
    // succeed, and the predicted records must all be new or replace expired ones
    // (`idempotencyStatements`). A statement cannot tell whose prediction went stale when
    // there are several.
    const predicted = records.flatMap((r, i) => (r.predictedNewIds === undefined ? [] : [i]));
    const predictionGuard = predicted.length === 1 ? predicted[0] : SOME_RECORD_GUARD;
    const predictedIds = new Set(predicted.flatMap((i) => records[i].predictedNewIds!));
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
    // claimed in input order, so the first of two equal ids in one batch wins; after each chunk's
    // claims, its rows go into their day's partition where their own claim holds.
    /** Each claim with the events it claims (`from`, `n`); it returns the seqs it took. */
    const claims: { seqs: number[]; from: number; n: number }[] = [];
    const uuids = events.map((e) => isCanonicalUuid(e.id));
    for (const [from, n] of claimChunks(events, predictedIds)) {
      const args: SqlValue[] = [];
      for (let i = from; i < from + n; i++) {
        pushId(args, events[i].id, uuids[i]);
        args.push(days[i], firstSeq + i);
      }
      const seqs: number[] = [];
      claims.push({ seqs, from, n });
      if (predictedIds.has(events[from].id)) {
        guarded.set(statements.length, predictionGuard);
        statements.push({ sql: claimSql(n), args, expectChanges: n, returning: seqs });
      } else statements.push({ sql: claimSql(n), args, returning: seqs });
      const byDay = new Map<number, number[]>();
      for (let i = from; i < from + n; i++) byDay.get(days[i])?.push(i) ?? byDay.set(days[i], [i]);
      for (const [day, indexes] of byDay) {
        for (const [at, size] of chunks(0, indexes.length)) {
          const rows: SqlValue[] = [];
          for (let k = at; k < at + size; k++) {
            const i = indexes[k];
            codec.pushRow(rows, events[i], firstSeq + i, day * DAY_MS, uuids[i]);
          }
          // Right after claims that all succeeded (one day, the common case) no row needs its check.
          rows.push(size === n ? n : -1);
          statements.push({ sql: insertRowsSql(day, size), args: rows });
        }
      }
    }
    // Codes the rows above were given for new names go in with them.
    const names = dictionary.pending();
    statements.push(...names.statements);
    statements.push(...idempotencyStatements(records.filter((r) => r.predictedNewIds === undefined)));
    for (const statement of idempotencyStatements(predicted.map((i) => records[i]), "predicted")) {
      guarded.set(statements.length, predictionGuard);
      statements.push(statement);
    }
    const changes = await driver.writeBatch(statements).catch((error) => {
      if (!(error instanceof GuardFailedError)) throw error;
      const record = guarded.get(error.statement) ?? KEYS_GUARD;
      if (record === KEYS_GUARD) throw new InactiveKeyError();
      return record === SOME_RECORD_GUARD ? null : Promise.reject(new StalePredictionError([record]));
    });
    // The group's check failed and nothing was committed: name whose predictions are stale (a read
    // after the fact; whatever it gets wrong costs a fallback or another round, never a wrong answer).
    if (changes === null) {
      const stale = await driver.all<{ i: number }>(
        staleRecordsQuery.sql,
        staleRecordsQuery.args(predicted.map((i) => records[i])),
      )
        .catch(() => []);
      throw new StalePredictionError(stale.map((r) => predicted[r.i]));
    }
    names.confirm();
    for (const day of created) partitions.add(day);
    // A claim returns the seqs it took: an event whose seq is not among them lost its id to an
    // earlier commit or to an earlier event of this one. Every claim of a chunk took (the common
    // case): all of its events hold.
    const lost = new Set<number>();
    for (const { seqs, from, n } of claims) {
      if (seqs.length === n) continue;
      const took = new Set(seqs);
      for (let i = from; i < from + n; i++) if (!took.has(firstSeq + i)) lost.add(i);
    }
    const outcomes = events.map((_, i): CommitOutcome => {
      if (lost.has(i)) return "duplicate";
      partitions.noteSeq(days[i], firstSeq + i);
      return "accepted";
    });
    return { outcomes, firstSeq };
  };

  return {
    state: { partitions, retired, lastSeq: () => nextSeq - 1 },

    commitEvents: (events, records = [], keys) => commit(events, records, keys),

    async eventsAfter(after, limit) {
      const rows = await onDays<PointRow>(
        () => partitions.withSeqAbove(after),
        (days) => seqOrderedUnion(days, afterSeq(pointColumns, after), limit),
      );
      return rows.map((r) => codec.point(r));
    },

    async readEventsAfter(after, limit) {
      const rows = await onDays<EventRow>(
        () => partitions.withSeqAbove(after),
        (days) => seqOrderedUnion(days, afterSeq(eventColumns, after), limit),
      );
      return rows.map((r) => codec.event(r));
    },

    async eventPointsSince(fromTs, limit) {
      const since = (d: number) => ({ where: "ms >= ?", args: [fromTs - d * DAY_MS], byTime: true });
      const rows = await onDays<PointRow>(
        () => partitions.overlapping(fromTs),
        (days) => seqOrderedUnion(days, (d) => ({ columns: pointColumns(d), ...since(d) }), limit),
      );
      return rows.map((r) => codec.point(r));
    },

    async scanEventPoints(query) {
      // The time bounds are bound per day (times are stored relative to it), the rest once.
      const where = ["ms >= ?", "ms < ?", "type = ?"];
      const args: SqlValue[] = [dictionary.lookup("type", query.eventType)];
      if (query.deviceIds) {
        where.push(`device IN (${query.deviceIds.map(() => "?").join(", ")})`);
        args.push(...query.deviceIds.map((id) => dictionary.lookup("device", id)));
      }
      for (const [key, value] of query.metadata ?? []) {
        // Text tags compare as text, numeric tags by number, booleans by their JSON text: interned
        // tag sets are matched here, inline ones (their JSON's bytes) by SQLite.
        const path = `$."${key.replaceAll('"', '""')}"`;
        const number = Number(value);
        const n = value.trim() !== "" && Number.isFinite(number) ? number : null;
        const json = "CAST(metadata AS TEXT)";
        where.push(
          `(metadata IN (SELECT value FROM json_each(?)) OR (typeof(metadata) = 'blob' AND CASE json_type(${json}, ?)
            WHEN 'text' THEN json_extract(${json}, ?) = ?
            WHEN 'integer' THEN json_extract(${json}, ?) = ?
            WHEN 'real' THEN json_extract(${json}, ?) = ?
            WHEN 'true' THEN ? = 'true'
            WHEN 'false' THEN ? = 'false'
            ELSE 0 END))`,
        );
        const codes = dictionary.tagCodes((tags) => tagEquals(tags, key, value, n));
        args.push(JSON.stringify(codes), path, path, value, path, n, path, n, value, value);
      }
      const points: CommittedEventPoint[] = [];
      for (const day of partitions.overlapping(query.from, query.to)) {
        const left = query.limit - points.length;
        if (left <= 0) break;
        const start = day * DAY_MS;
        const rows = await onDay<PointRow>(
          day,
          `SELECT ${pointColumns(day)} FROM ${partitionTable(day)} WHERE ${where.join(" AND ")} LIMIT ?`,
          [query.from - start, query.to - start, ...args, left],
        );
        for (const r of rows) points.push(codec.point(r));
      }
      return points;
    },

    async getEvent(id) {
      const args: SqlValue[] = [];
      pushId(args, id);
      const refs = await driver.all<{ day: number; seq: number }>(
        `SELECT day, seq FROM event_ids WHERE id = ${ID_SQL}`,
        args,
      );
      if (!refs.length || !partitions.has(refs[0].day)) return null;
      const { day, seq } = refs[0];
      const rows = await onDay<EventRow>(
        day,
        `SELECT ${eventColumns(day)} FROM ${partitionTable(day)} WHERE seq = ?`,
        [seq],
      );
      return rows.length ? codec.event(rows[0]) : null;
    },

    async listEvents(query) {
      const asc = query.order === "asc";
      let lower = query.from;
      let upper = query.to;
      if (query.after) {
        if (asc) lower = Math.max(lower ?? -Infinity, query.after.timestamp);
        else upper = Math.min(upper ?? Infinity, query.after.timestamp + 1);
      }
      /** The condition and arguments on the partition of `day` (its times relative to its start). */
      const conditions = (day: number) => {
        const start = day * DAY_MS;
        const where: string[] = [];
        const args: SqlValue[] = [];
        const filters: [string, SqlValue | undefined][] = [
          [
            "device = ?",
            query.deviceId === undefined ? undefined : dictionary.lookup("device", query.deviceId),
          ],
          [
            "type = ?",
            query.eventType === undefined ? undefined : dictionary.lookup("type", query.eventType),
          ],
          ["ms >= ?", query.from === undefined ? undefined : query.from - start],
          ["ms < ?", query.to === undefined ? undefined : query.to - start],
        ];
        for (const [clause, value] of filters) {
          if (value === undefined) continue;
          where.push(clause);
          args.push(value);
        }
        if (query.after) {
          // The plain bound first, so the index range starts at the position, not at `from`.
          const at = query.after.timestamp - start;
          where.push(asc ? "ms >= ?" : "ms <= ?");
          where.push(asc ? "(ms > ? OR (ms = ? AND seq > ?))" : "(ms < ? OR (ms = ? AND seq < ?))");
          args.push(at, at, at, query.after.seq);
        }
        return { clause: where.length ? `WHERE ${where.join(" AND ")}` : "", args };
      };
      const order = asc ? "ms ASC, seq ASC" : "ms DESC, seq DESC";
      // In listing order partition by partition; each later one holds only later events (in that
      // order), so stop once full.
      const days = partitions.overlapping(lower, upper);
      if (!asc) days.reverse();
      const out: StoredEvent[] = [];
      for (const day of days) {
        const left = query.limit - out.length;
        if (left <= 0) break;
        const { clause, args } = conditions(day);
        const rows = await onDay<EventRow>(
          day,
          `SELECT ${eventColumns(day)} FROM ${partitionTable(day)} ${clause} ORDER BY ${order} LIMIT ?`,
          [...args, left],
        );
        for (const r of rows) out.push(codec.event(r));
      }
      return out;
    },

    async findExistingEventIds(ids) {
      return new Set((await owners(ids)).keys());
    },
  };
}
