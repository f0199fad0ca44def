/**
 * Picks the SQLite driver for a database URL: `node:sqlite` for local files
 * when the runtime has it (Deno 2, Node >= 22.5), `@libsql/client` otherwise
 * and always for remote libSQL URLs. `preference` forces one.
 */
import type { SqlDriver } from "../../store/sqlite/sql-driver.ts";
import type { SqliteOpenOptions } from "./pragmas.ts";

export type DriverPreference = "auto" | "node-sqlite" | "libsql";

export async function openSqlDriver(
  url: string,
  options: SqliteOpenOptions & { preference?: DriverPreference },
): Promise<SqlDriver> {
  const local = url.startsWith("file:") || url === ":memory:";
  const preference = options.preference ?? "auto";
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
