/**
 * `SqlDriver` on `@libsql/client`: for remote libSQL URLs (Turso, Val Town's
 * SQLite) and for local files on runtimes without `node:sqlite` (Node 20).
 * Slower than `node:sqlite` for local files (see docs/PERFORMANCE.md).
 *
 * A local database is used through ONE connection, and every call waits for the one before it.
 * The client otherwise keeps a pool of up to 20 connections: our per-connection pragmas
 * (`busy_timeout`, `synchronous`, `cache_size`, …) applied to the first only, the others ran with
 * no busy timeout and a default cache, and a connection left with a statement in progress by a
 * failed (SQLITE_BUSY) commit went back to the pool, so later commits on it kept failing with
 * "cannot commit transaction - SQL statements in progress". With one connection, a transaction
 * holding it would make any concurrent call fail with TRANSACTION_ACTIVE, hence the queue. It costs
 * nothing: the local client runs every statement synchronously on this thread anyway. A failed
 * call reopens the connection: the client does not reset a statement that failed (SQLITE_BUSY
 * after the busy timeout), and while it lives every later COMMIT on that connection fails.
 */
import { type Client, createClient, type InArgs, type ResultSet } from "@libsql/client";
import { StoreUnavailableError } from "../../errors.ts";
import {
  GuardFailedError,
  type SqlDriver,
  type SqlStatement,
  type SqlValue,
} from "../../store/sqlite/sql-driver.ts";
import { ensureParentDir, sqliteFilePath } from "./file-path.ts";
import { localPragmas, type SqliteOpenOptions } from "./pragmas.ts";

/** The rows a statement changed; a `returning` statement's values are collected (one per row). */
function collect(s: SqlStatement, rs: ResultSet): number {
  if (!s.returning) return rs.rowsAffected;
  s.returning.length = 0;
  for (const row of rs.rows) s.returning.push(Number(row[0]));
  return rs.rows.length;
}

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
  const file = local && url !== ":memory:";
  /**
   * A new client. The first open applies every pragma; a reopen only the connection's own (the
   * file's journal mode and auto-vacuum are set): those take no lock, so a reopen works while
   * another process holds the write lock.
   */
  const connect = async (first: boolean) => {
    const c = createClient({ url, intMode: "number", ...(local ? { concurrency: 1 } : {}) });
    try {
      const pragmas = file ? localPragmas(options).split(";\n") : [];
      for (const pragma of pragmas) {
        if (first || !/auto_vacuum|journal_mode/.test(pragma)) await c.execute(pragma);
      }
    } catch (error) {
      c.close();
      throw error;
    }
    return c;
  };
  let current: Client | null = await guard("open", () => {
    if (local) ensureParentDir(sqliteFilePath(url));
    return connect(true);
  });
  let closed = false;
  const client = async () => {
    if (closed) throw new Error("the database is closed");
    return current ??= await connect(false);
  };
  /**
   * Local: one call at a time on the one connection. A call that failed (other than a guard, which
   * fails after its statement completed) drops the connection; the next call opens a fresh one.
   */
  let last: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    if (!local) return fn();
    const run = last.then(fn, fn).catch((error) => {
      if (file && !(error instanceof GuardFailedError)) {
        current?.close();
        current = null;
      }
      throw error;
    });
    last = run.catch(() => {});
    return run;
  };

  /** A batch with guards needs an interactive transaction: a guard's rows decide whether to go on. */
  const guardedBatch = async (batch: readonly SqlStatement[]): Promise<number[]> => {
    const tx = await (await client()).transaction("write");
    try {
      const changes: number[] = [];
      for (const [i, s] of batch.entries()) {
        const rs = await tx.execute({ sql: s.sql, args: s.args as InArgs });
        const affected = collect(s, rs);
        if (s.expectRows !== undefined && rs.rows.length !== s.expectRows) throw new GuardFailedError(i);
        if (s.expectChanges !== undefined && affected !== s.expectChanges) throw new GuardFailedError(i);
        changes.push(s.expectRows === undefined ? affected : 0);
      }
      await tx.commit();
      return changes;
    } finally {
      tx.close();
    }
  };

  return {
    name: "@libsql/client",
    local: file,
    exec: (sql) => guard("exec", () => serial(async () => (await client()).executeMultiple(sql))),
    all: <T>(sql: string, args: SqlValue[] = []) =>
      guard("query", () =>
        serial(async () => {
          const rs = await (await client()).execute({ sql, args: args as InArgs });
          return rs.rows.map((row) =>
            Object.fromEntries(
              rs.columns.map((c, i) => [c, row[i] instanceof ArrayBuffer ? new Uint8Array(row[i]) : row[i]]),
            )
          ) as T[];
        })),
    writeBatch: (batch: readonly SqlStatement[]) =>
      guard("write", () =>
        serial(async () => {
          if (batch.some((s) => s.expectRows !== undefined || s.expectChanges !== undefined)) {
            return await guardedBatch(batch);
          }
          const results = await (await client()).batch(
            batch.map((s) => ({ sql: s.sql, args: s.args as InArgs })),
            "write",
          );
          return results.map((r, i) => collect(batch[i], r));
        })),
    close: () =>
      guard("close", () =>
        serial(() => {
          closed = true;
          return Promise.resolve(current?.close());
        })),
  };
}
