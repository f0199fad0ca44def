/**
 * A `node:sqlite` connection with its prepared statements cached by SQL text,
 * shared by the in-thread driver, the writer worker and the worker driver's
 * reader so that each runs statements and transactions the same way.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { GuardFailedError, type SqlStatement } from "../../store/sqlite/sql-driver.ts";

export interface NodeSqliteConnection {
  /** The cached prepared statement for `sql`. */
  prepared(sql: string): StatementSync;
  /** Runs statements without arguments, each to its end (`SqlDriver.exec`). */
  exec(sql: string): void;
  /**
   * Runs `batch` in one `BEGIN IMMEDIATE` transaction; rows changed per statement. Rolls back on
   * error, or when a guard does not hold (`GuardFailedError`).
   */
  writeBatch(batch: readonly SqlStatement[]): number[];
}

export function nodeSqliteConnection(db: DatabaseSync): NodeSqliteConnection {
  const statements = new Map<string, StatementSync>();
  const prepared = (sql: string): StatementSync => {
    let stmt = statements.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      statements.set(sql, stmt);
    }
    return stmt;
  };
  return {
    prepared,
    exec(sql) {
      // Deno's `DatabaseSync.exec` steps each statement once: a statement that returns a row per
      // unit of work then does one unit (`PRAGMA incremental_vacuum(512)` freed one page, not 512).
      // A single statement is stepped to its end here; several (DDL, pragma lists) return no rows.
      const one = sql.trim().replace(/;$/, "");
      if (one.includes(";")) db.exec(sql);
      else db.prepare(one).all();
    },
    writeBatch(batch) {
      db.exec("BEGIN IMMEDIATE");
      try {
        const changes = batch.map((s, i) => {
          if (s.returning) {
            s.returning.length = 0;
            for (const row of prepared(s.sql).all(...s.args)) s.returning.push(Number(Object.values(row)[0]));
            const changes = s.returning.length;
            if (s.expectChanges !== undefined && changes !== s.expectChanges) throw new GuardFailedError(i);
            return changes;
          }
          if (s.expectRows === undefined) {
            const changes = Number(prepared(s.sql).run(...s.args).changes);
            if (s.expectChanges !== undefined && changes !== s.expectChanges) throw new GuardFailedError(i);
            return changes;
          }
          if (prepared(s.sql).all(...s.args).length !== s.expectRows) throw new GuardFailedError(i);
          return 0;
        });
        db.exec("COMMIT");
        return changes;
      } catch (error) {
        if (db.isTransaction) db.exec("ROLLBACK");
        throw error;
      }
    },
  };
}
