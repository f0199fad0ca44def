/**
 * Picks the SQLite driver for a database URL. For local files: `node:sqlite`
 * with commits on a writer worker where the runtime has both (Deno 2),
 * `node:sqlite` on the calling thread where it has only that (Node >= 22.5),
 * `@libsql/client` otherwise. Remote libSQL URLs always use `@libsql/client`.
 * `preference` forces one.
 */
import type { SqlDriver } from "../../store/sqlite/sql-driver.ts";
import type { SqliteOpenOptions } from "./pragmas.ts";

export type DriverPreference = "auto" | "node-sqlite-worker" | "node-sqlite" | "libsql";

export async function openSqlDriver(
  url: string,
  options: SqliteOpenOptions & { preference?: DriverPreference },
): Promise<SqlDriver> {
  const local = url.startsWith("file:") || url === ":memory:";
  const preference = options.preference ?? "auto";
  const file = local && url !== ":memory:" && url !== "file::memory:";
  if (
    file && (preference === "node-sqlite-worker" || (preference === "auto" && typeof Worker === "function"))
  ) {
    try {
      const { openNodeSqliteWorkerDriver } = await import("./node-sqlite-worker-driver.ts");
      return await openNodeSqliteWorkerDriver(url, options);
    } catch (error) {
      if (preference === "node-sqlite-worker" || !isMissingModule(error)) throw error;
    }
  }
  if (local && preference !== "libsql") {
    try {
      const { openNodeSqliteDriver } = await import("./node-sqlite-driver.ts");
      return openNodeSqliteDriver(url, options);
    } catch (error) {
      if (preference === "node-sqlite" || !isMissingModule(error)) throw error;
    }
  }
  const { openLibsqlDriver } = await import("./libsql-driver.ts");
  return openLibsqlDriver(url, options);
}

function isMissingModule(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === "ERR_UNKNOWN_BUILTIN_MODULE" || code === "ERR_MODULE_NOT_FOUND" ||
    (error instanceof Error && /node:sqlite/.test(error.message));
}
