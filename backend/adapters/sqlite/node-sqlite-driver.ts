/**
 * `SqlDriver` on the `node:sqlite` module built into Deno 2 and Node >= 22.5:
 * synchronous, in-process, and the fastest local driver either runtime has
 * (see docs/PERFORMANCE.md). Prepared statements are cached by SQL text and
 * reused on every call.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { StoreUnavailableError } from "../../errors.ts";
import type { SqlDriver, SqlStatement, SqlValue } from "../../store/sqlite/sql-driver.ts";
import { ensureParentDir, sqliteFilePath } from "./file-path.ts";
import { localPragmas, type SqliteOpenOptions } from "./pragmas.ts";

export function openNodeSqliteDriver(url: string, options: SqliteOpenOptions): SqlDriver {
  const path = sqliteFilePath(url);
  let db: DatabaseSync;
  try {
    ensureParentDir(path);
    db = new DatabaseSync(path);
    db.exec(localPragmas(options));
  } catch (cause) {
    throw new StoreUnavailableError("open", { cause });
  }
  const statements = new Map<string, StatementSync>();
  const prepared = (sql: string): StatementSync => {
    let stmt = statements.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      statements.set(sql, stmt);
    }
    return stmt;
  };
  const guard = <T>(operation: string, fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (cause) {
      return Promise.reject(new StoreUnavailableError(operation, { cause }));
    }
  };

  return {
    name: "node:sqlite",
    local: path !== ":memory:",
    exec: (sql) => guard("exec", () => db.exec(sql)),
    all: <T>(sql: string, args: SqlValue[] = []) => guard("query", () => prepared(sql).all(...args) as T[]),
    writeBatch: (batch: readonly SqlStatement[]) =>
      guard("write", () => {
        db.exec("BEGIN IMMEDIATE");
        try {
          const changes = batch.map((s) => Number(prepared(s.sql).run(...s.args).changes));
          db.exec("COMMIT");
          return changes;
        } catch (error) {
          if (db.isTransaction) db.exec("ROLLBACK");
          throw error;
        }
      }),
    close: () =>
      guard("close", () => {
        if (db.isOpen) db.close();
      }),
  };
}
