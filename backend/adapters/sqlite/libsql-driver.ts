/**
 * `SqlDriver` on `@libsql/client`: for remote libSQL URLs (Turso, Val Town's
 * SQLite) and for local files on runtimes without `node:sqlite` (Node 20).
 * Slower than `node:sqlite` for local files (see docs/PERFORMANCE.md).
 */
import { createClient, type InArgs } from "@libsql/client";
import { StoreUnavailableError } from "../../errors.ts";
import {
  GuardFailedError,
  type SqlDriver,
  type SqlStatement,
  type SqlValue,
} from "../../store/sqlite/sql-driver.ts";
import { ensureParentDir, sqliteFilePath } from "./file-path.ts";
import { localPragmas, type SqliteOpenOptions } from "./pragmas.ts";

export async function openLibsqlDriver(url: string, options: SqliteOpenOptions): Promise<SqlDriver> {
  const local = url.startsWith("file:") || url === ":memory:";
  const guard = async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (cause) {
      if (cause instanceof GuardFailedError) throw cause;
      throw new StoreUnavailableError(operation, { cause });
    }
  };
  const client = await guard("open", async () => {
    if (local) ensureParentDir(sqliteFilePath(url));
    const c = createClient({ url, intMode: "number" });
    if (local && url !== ":memory:") {
      for (const pragma of localPragmas(options).split(";\n")) await c.execute(pragma);
    }
    return c;
  });

  /** A batch with guards needs an interactive transaction: a guard's rows decide whether to go on. */
  const guardedBatch = async (batch: readonly SqlStatement[]): Promise<number[]> => {
    const tx = await client.transaction("write");
    try {
      const changes: number[] = [];
      for (const [i, s] of batch.entries()) {
        const rs = await tx.execute({ sql: s.sql, args: s.args as InArgs });
        if (s.expectRows !== undefined && rs.rows.length !== s.expectRows) throw new GuardFailedError(i);
        if (s.expectChanges !== undefined && rs.rowsAffected !== s.expectChanges) {
          throw new GuardFailedError(i);
        }
        changes.push(s.expectRows === undefined ? rs.rowsAffected : 0);
      }
      await tx.commit();
      return changes;
    } finally {
      tx.close();
    }
  };

  return {
    name: "@libsql/client",
    local: local && url !== ":memory:",
    exec: (sql) => guard("exec", () => client.executeMultiple(sql)),
    all: <T>(sql: string, args: SqlValue[] = []) =>
      guard("query", async () => {
        const rs = await client.execute({ sql, args: args as InArgs });
        return rs.rows.map((row) =>
          Object.fromEntries(
            rs.columns.map((c, i) => [c, row[i] instanceof ArrayBuffer ? new Uint8Array(row[i]) : row[i]]),
          )
        ) as T[];
      }),
    writeBatch: (batch: readonly SqlStatement[]) =>
      guard("write", async () => {
        if (batch.some((s) => s.expectRows !== undefined || s.expectChanges !== undefined)) {
          return await guardedBatch(batch);
        }
        const results = await client.batch(
          batch.map((s) => ({ sql: s.sql, args: s.args as InArgs })),
          "write",
        );
        return results.map((r) => r.rowsAffected);
      }),
    close: () => guard("close", () => Promise.resolve(client.close())),
  };
}
