/**
 * Dead letters on SQLite (`DeadLetterStore`, see storage-store.ts), table
 * `dead_letters` (migration 8). Ids are assigned here, like event seqs: this
 * process is the database's only writer.
 */
import type { DeadLetter, DeadLetterStore, NewDeadLetter } from "../storage-store.ts";
import type { SqlDriver, SqlStatement, SqlValue } from "./sql-driver.ts";

interface DeadLetterRow {
  id: number;
  kind: string;
  payload: string;
  reason: string;
  attempts: number;
  first_failed_at: number;
  last_failed_at: number;
  replayed_at: number | null;
  auto_replays: number;
}

const ID_FLOOR = "dead_letter_id_floor";
const COLUMNS = "id, kind, payload, reason, attempts, first_failed_at, last_failed_at, replayed_at";
/** Columns read: migration 15 added the automatic replays (DEFAULT 0 for older rows). */
const READ_COLUMNS = `${COLUMNS}, auto_replays`;

function toDeadLetter(r: DeadLetterRow): DeadLetter {
  return {
    id: r.id,
    kind: r.kind,
    payload: JSON.parse(r.payload),
    reason: r.reason,
    attempts: r.attempts,
    autoReplays: r.auto_replays,
    firstFailedAt: r.first_failed_at,
    lastFailedAt: r.last_failed_at,
    replayedAt: r.replayed_at,
  };
}

/** The statement recording the rollup checkpoint, never moving it backwards. */
export function checkpointStatement(checkpoint: number): SqlStatement {
  return {
    sql: `INSERT INTO stream_state (name, value) VALUES ('rollup_checkpoint', ?)
          ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`,
    args: [checkpoint],
  };
}

/** The statement marking a pending dead letter replayed. */
export function settleStatement(id: number, at: number): SqlStatement {
  return {
    sql: "UPDATE dead_letters SET replayed_at = ? WHERE id = ? AND replayed_at IS NULL",
    args: [at, id],
  };
}

/**
 * Follows `settleStatement` in a flush's transaction: if that changed no row (the item was not
 * pending, e.g. replayed twice at once), evaluating `json()` of non-JSON fails the statement and
 * with it the whole transaction, so the flush's merge is not applied a second time.
 */
export function settleGuardStatement(): SqlStatement {
  return {
    sql:
      "INSERT INTO stream_state (name, value) SELECT 'dead letter already settled', json('not pending') WHERE changes() = 0",
    args: [],
  };
}

export async function sqliteDeadLetters(driver: SqlDriver): Promise<DeadLetterStore> {
  // Ids are never reused, even after the newest items were purged (a client may still hold one).
  const [{ top }] = await driver.all<{ top: number | null }>(
    "SELECT max(coalesce((SELECT max(id) FROM dead_letters), 0), coalesce((SELECT value FROM stream_state WHERE name = ?), 0)) AS top",
    [ID_FLOOR],
  );
  let nextId = (top ?? 0) + 1;
  const insert = (item: NewDeadLetter): { statement: SqlStatement; letter: DeadLetter } => {
    const letter: DeadLetter = {
      id: nextId++,
      kind: item.kind,
      payload: JSON.parse(JSON.stringify(item.payload ?? null)),
      reason: item.reason,
      attempts: item.attempts,
      autoReplays: 0,
      firstFailedAt: item.at,
      lastFailedAt: item.at,
      replayedAt: null,
    };
    return {
      letter,
      statement: {
        sql: `INSERT INTO dead_letters (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
        args: [
          letter.id,
          letter.kind,
          JSON.stringify(letter.payload),
          letter.reason,
          letter.attempts,
          item.at,
          item.at,
        ],
      },
    };
  };

  return {
    async add(item) {
      const { statement, letter } = insert(item);
      await driver.writeBatch([statement]);
      return letter;
    },

    async parkRollupRange(item, checkpoint) {
      const { statement, letter } = insert(item);
      await driver.writeBatch([statement, checkpointStatement(checkpoint)]);
      return letter;
    },

    async list(query) {
      const where: string[] = [];
      const args: SqlValue[] = [];
      if (query.kind !== undefined) where.push("kind = ?"), args.push(query.kind);
      if (query.pending) where.push("replayed_at IS NULL");
      if (query.beforeId !== undefined) where.push("id < ?"), args.push(query.beforeId);
      if (query.afterId !== undefined) where.push("id > ?"), args.push(query.afterId);
      const rows = await driver.all<DeadLetterRow>(
        `SELECT ${READ_COLUMNS} FROM dead_letters ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
          ORDER BY id ${query.order === "asc" ? "ASC" : "DESC"} LIMIT ?`,
        [...args, query.limit],
      );
      return rows.map(toDeadLetter);
    },

    async get(id) {
      const rows = await driver.all<DeadLetterRow>(`SELECT ${READ_COLUMNS} FROM dead_letters WHERE id = ?`, [
        id,
      ]);
      return rows.length ? toDeadLetter(rows[0]) : null;
    },

    async markReplayed(id, at) {
      const [n] = await driver.writeBatch([settleStatement(id, at)]);
      return n === 1;
    },

    async recordFailure(id, reason, at, options = {}) {
      await driver.writeBatch([{
        sql: `UPDATE dead_letters SET attempts = attempts + 1, auto_replays = auto_replays + ?, reason = ?,
                last_failed_at = ? WHERE id = ?`,
        args: [options.automatic ? 1 : 0, reason, at, id],
      }]);
    },

    async purge(query) {
      const where: string[] = [];
      const args: SqlValue[] = [];
      if (query.kind !== undefined) where.push("kind = ?"), args.push(query.kind);
      if (query.replayedOnly) where.push("replayed_at IS NOT NULL");
      const [n] = await driver.writeBatch([{
        sql: `DELETE FROM dead_letters ${where.length ? `WHERE ${where.join(" AND ")}` : ""}`,
        args,
      }, {
        sql: `INSERT INTO stream_state (name, value) VALUES (?, ?)
              ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`,
        args: [ID_FLOOR, nextId - 1],
      }]);
      return n;
    },

    async counts() {
      return await driver.all<{ kind: string; pending: number; replayed: number }>(
        `SELECT kind, sum(replayed_at IS NULL) AS pending, sum(replayed_at IS NOT NULL) AS replayed
           FROM dead_letters GROUP BY kind ORDER BY kind`,
      );
    },
  };
}
