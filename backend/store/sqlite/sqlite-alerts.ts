/** The `AlertStore` on SQLite (tables of migrations 10–12). */
import type { AlertChanges, AlertStore } from "../alert-store.ts";
import type {
  AlertInstance,
  AlertRule,
  AlertTransition,
  GroupRecord,
  OutboxItem,
  OutboxStatus,
  Receiver,
  Silence,
} from "../../alerts/model.ts";
import type { SqlDriver, SqlStatement, SqlValue } from "./sql-driver.ts";

interface TransitionRow {
  seq: number;
  at: number;
  rule_id: string;
  fingerprint: string;
  labels: string;
  from_state: AlertTransition["from"];
  to_state: AlertTransition["to"];
  value: number | null;
}

interface OutboxRow {
  id: string;
  receiver_id: string;
  group_key: string;
  status: OutboxStatus;
  payload: string | null;
  due_at: number;
  attempts: number;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

const OUTBOX_COLUMNS =
  "id, receiver_id, group_key, status, payload, due_at, attempts, last_error, created_at, updated_at";

function outboxArgs(o: OutboxItem): SqlValue[] {
  return [
    o.id,
    o.receiverId,
    o.groupKey,
    o.status,
    o.payload,
    o.dueAt,
    o.attempts,
    o.lastError,
    o.createdAt,
    o.updatedAt,
  ];
}

function toOutbox(r: OutboxRow): OutboxItem {
  return {
    id: r.id,
    receiverId: r.receiver_id,
    groupKey: r.group_key,
    status: r.status,
    payload: r.payload,
    dueAt: r.due_at,
    attempts: r.attempts,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/**
 * Rows per multi-row statement: a round's slice writes hundreds of instances and transitions, and
 * one statement of many rows crosses to the writer worker as one flat argument list instead of an
 * object per row (the structured clone of ~500 statement objects per slice took ~3 s of a 36 s
 * alert benchmark, docs/PERFORMANCE.md). 200 rows × 10 arguments stays far below SQLite's 32,766.
 */
const ROWS_PER_STATEMENT = 200;

/** `INSERT … VALUES (?, …), (?, …)` statements of `rows`, in order (SQLite inserts them in order). */
function multiRow<T>(head: string, columns: number, rows: readonly T[], args: (row: T) => SqlValue[]) {
  const out: SqlStatement[] = [];
  const tuple = `(${Array(columns).fill("?").join(", ")})`;
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
    out.push({
      sql: `${head} VALUES ${Array(chunk.length).fill(tuple).join(", ")}`,
      args: chunk.flatMap(args),
    });
  }
  return out;
}

/**
 * Alert rows written between two passive checkpoints. A storm of state changes (84,000 instances
 * going pending, then firing) writes ~100 MB of WAL a round; left to the automatic checkpoint, every
 * ~20,000 pages (`SQLITE_WAL_AUTOCHECKPOINT_PAGES`) one commit copied them all back, and the ingest
 * commits queued on the writer waited 150–770 ms behind it (docs/PERFORMANCE.md, "The 2,000-rule
 * storm"). After this many rows the alert write checkpoints what it added, a few MB at a time.
 */
const ROWS_PER_CHECKPOINT = 2_000;

function groupStatement(g: GroupRecord): SqlStatement {
  return {
    sql: "INSERT OR REPLACE INTO alert_groups (receiver_id, group_key, body) VALUES (?, ?, ?)",
    args: [g.receiverId, g.groupKey, JSON.stringify(g)],
  };
}

/** The alerting tables of the SQLite store. */
export function sqliteAlerts(driver: SqlDriver): AlertStore {
  const docs = async <T>(table: string, order = "created_at, id"): Promise<T[]> =>
    (await driver.all<{ body: string }>(`SELECT body FROM ${table} ORDER BY ${order}`)).map((r) =>
      JSON.parse(r.body)
    );
  const remove = async (table: string, id: string) =>
    (await driver.writeBatch([{ sql: `DELETE FROM ${table} WHERE id = ?`, args: [id] }]))[0] > 0;

  let rowsSinceCheckpoint = 0;

  return {
    listRules: () => docs<AlertRule>("alert_rules"),
    async saveRule(rule) {
      await driver.writeBatch([{
        sql: "INSERT OR REPLACE INTO alert_rules (id, body, created_at, updated_at) VALUES (?, ?, ?, ?)",
        args: [rule.id, JSON.stringify(rule), rule.createdAt, rule.updatedAt],
      }]);
    },
    deleteRule: (id) => remove("alert_rules", id),
    listReceivers: () => docs<Receiver>("alert_receivers"),
    async saveReceiver(r) {
      await driver.writeBatch([{
        sql: "INSERT OR REPLACE INTO alert_receivers (id, body, created_at, updated_at) VALUES (?, ?, ?, ?)",
        args: [r.id, JSON.stringify(r), r.createdAt, r.updatedAt],
      }]);
    },
    deleteReceiver: (id) => remove("alert_receivers", id),
    listSilences: () => docs<Silence>("alert_silences", "ends_at DESC, id"),
    async saveSilence(s) {
      await driver.writeBatch([{
        sql: "INSERT OR REPLACE INTO alert_silences (id, body, ends_at) VALUES (?, ?, ?)",
        args: [s.id, JSON.stringify(s), s.endsAt],
      }]);
    },
    loadAlertInstances: () => docs<AlertInstance>("alert_instances", "rule_id, fingerprint"),

    async applyAlertChanges(changes: AlertChanges) {
      // Same statements as one row each, in the same order, grouped into multi-row statements.
      const statements: SqlStatement[] = multiRow(
        "INSERT OR REPLACE INTO alert_instances (rule_id, fingerprint, state, body)",
        4,
        changes.instances,
        (i) => [i.ruleId, i.fingerprint, i.state, JSON.stringify(i)],
      );
      for (const d of changes.deleteInstances ?? []) {
        statements.push({
          sql: "DELETE FROM alert_instances WHERE rule_id = ? AND fingerprint = ?",
          args: [d.ruleId, d.fingerprint],
        });
      }
      statements.push(...multiRow(
        "INSERT INTO alert_transitions (at, rule_id, fingerprint, labels, from_state, to_state, value)",
        7,
        changes.transitions,
        (t) => [t.at, t.ruleId, t.fingerprint, JSON.stringify(t.labels), t.from, t.to, t.value],
      ));
      // The partial unique index on waiting items makes a row a no-op while its group has one.
      statements.push(
        ...multiRow(`INSERT OR IGNORE INTO alert_outbox (${OUTBOX_COLUMNS})`, 10, changes.outbox, outboxArgs),
      );
      for (const g of changes.groups ?? []) statements.push(groupStatement(g));
      if (statements.length === 0) return;
      await driver.writeBatch(statements);
      rowsSinceCheckpoint += changes.instances.length + changes.transitions.length + changes.outbox.length;
      if (driver.local && rowsSinceCheckpoint >= ROWS_PER_CHECKPOINT) {
        rowsSinceCheckpoint = 0;
        // A passive checkpoint never waits for a reader; a failed one leaves the work to the automatic one.
        await driver.exec("PRAGMA wal_checkpoint(PASSIVE)").catch(() => {});
      }
    },

    async listAlertTransitions(q) {
      const where: string[] = [];
      const args: SqlValue[] = [];
      if (q.ruleId !== undefined) where.push("rule_id = ?"), args.push(q.ruleId);
      if (q.fingerprint !== undefined) where.push("fingerprint = ?"), args.push(q.fingerprint);
      if (q.beforeSeq !== undefined) where.push("seq < ?"), args.push(q.beforeSeq);
      const rows = await driver.all<TransitionRow>(
        `SELECT * FROM alert_transitions ${
          where.length ? `WHERE ${where.join(" AND ")}` : ""
        } ORDER BY seq DESC LIMIT ?`,
        [...args, q.limit],
      );
      return rows.map((r) => ({
        seq: r.seq,
        at: r.at,
        ruleId: r.rule_id,
        fingerprint: r.fingerprint,
        labels: JSON.parse(r.labels),
        from: r.from_state,
        to: r.to_state,
        value: r.value,
      }));
    },

    loadAlertGroups: () => docs<GroupRecord>("alert_groups", "receiver_id, group_key"),

    async listOutbox(q) {
      const args: SqlValue[] = [...q.statuses];
      let sql = `SELECT ${OUTBOX_COLUMNS} FROM alert_outbox WHERE status IN (${
        q.statuses.map(() => "?").join(", ")
      })`;
      if (q.dueBy !== undefined) sql += " AND due_at <= ?", args.push(q.dueBy);
      const rows = await driver.all<OutboxRow>(`${sql} ORDER BY due_at, id LIMIT ?`, [...args, q.limit]);
      return rows.map(toOutbox);
    },

    async updateOutbox(item, group, options = {}) {
      const guard = options.onlyIfStatus === undefined ? "" : " AND status = ?";
      const statements: SqlStatement[] = [{
        sql:
          `UPDATE alert_outbox SET status = ?, payload = ?, due_at = ?, attempts = ?, last_error = ?, updated_at = ?
              WHERE id = ?${guard}`,
        args: [
          item.status,
          item.payload,
          item.dueAt,
          item.attempts,
          item.lastError,
          item.updatedAt,
          item.id,
          ...(options.onlyIfStatus === undefined ? [] : [options.onlyIfStatus]),
        ],
      }];
      if (options.supersede) {
        statements.push({
          sql: `UPDATE alert_outbox SET status = 'skipped', updated_at = ?
                WHERE receiver_id = ? AND group_key = ? AND status = 'pending' AND id != ?`,
          args: [item.updatedAt, item.receiverId, item.groupKey, item.id],
        });
      }
      if (group) {
        // Written only when the item was: a guarded update that missed writes nothing.
        statements.push(
          options.onlyIfStatus === undefined ? groupStatement(group) : {
            sql: `INSERT OR REPLACE INTO alert_groups (receiver_id, group_key, body)
                  SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM alert_outbox WHERE id = ? AND status = ?)`,
            args: [group.receiverId, group.groupKey, JSON.stringify(group), item.id, item.status],
          },
        );
      }
      const [changed] = await driver.writeBatch(statements);
      return changed > 0;
    },

    async purgeAlertRecords(before) {
      const [transitions, outbox] = await driver.writeBatch([
        { sql: "DELETE FROM alert_transitions WHERE at <= ?", args: [before] },
        {
          sql: "DELETE FROM alert_outbox WHERE status IN ('sent', 'skipped', 'dead') AND updated_at <= ?",
          args: [before],
        },
      ]);
      return transitions + outbox;
    },

    async outboxCounts() {
      const rows = await driver.all<{ status: OutboxStatus; n: number }>(
        "SELECT status, count(*) AS n FROM alert_outbox GROUP BY status",
      );
      const out: Record<OutboxStatus, number> = { waiting: 0, pending: 0, sent: 0, dead: 0, skipped: 0 };
      for (const r of rows) out[r.status] = r.n;
      return out;
    },
  };
}
