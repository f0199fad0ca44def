/**
 * `SqlDriver` on the `node:sqlite` module built into Deno 2 and Node >= 22.5:
 * synchronous, in-process, and the fastest local driver either runtime has
 * (see docs/PERFORMANCE.md). Prepared statements are cached by SQL text and
 * reused on every call.
 */
import { DatabaseSync } from "node:sqlite";
import { nodeSqliteConnection } from "./node-sqlite-connection.ts";
import { StoreUnavailableError } from "../../errors.ts";
import {
  GuardFailedError,
  type SqlDriver,
  type SqlStatement,
  type SqlValue,
} from "../../store/sqlite/sql-driver.ts";
import { ensureParentDir, sqliteFilePath } from "./file-path.ts";
import { localPragmas, type SqliteOpenOptions } from "./pragmas.ts";

export function openNodeSqliteDriver(
  url: string,
  options: SqliteOpenOptions & {
    /** A read connection beside the writer's (`PRAGMA query_only`): any write fails. */
    queryOnly?: boolean;
  },
): SqlDriver {
  const path = sqliteFilePath(url);
  let db: DatabaseSync;
  try {
    ensureParentDir(path);
    db = new DatabaseSync(path);
    db.exec(localPragmas(options));
    if (options.queryOnly) db.exec("PRAGMA query_only=ON");
  } catch (cause) {
    throw new StoreUnavailableError("open", { cause });
  }
  const connection = nodeSqliteConnection(db);
  const guard = <T>(operation: string, fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (cause) {
      return Promise.reject(
        cause instanceof GuardFailedError ? cause : new StoreUnavailableError(operation, { cause }),
      );
    }
  };

  return {
    name: "node:sqlite",
    local: path !== ":memory:",
    exec: (sql) => guard("exec", () => connection.exec(sql)),
    all: <T>(sql: string, args: SqlValue[] = []) =>
      guard("query", () => connection.prepared(sql).all(...args) as T[]),
    writeBatch: (batch: readonly SqlStatement[]) => guard("write", () => connection.writeBatch(batch)),
    close: () =>
      guard("close", () => {
        if (db.isOpen) db.close();
      }),
  };
}
