/**
 * The database file at start-up: what may be opened, and one line that says why it cannot.
 *
 * SQLite opens almost anything without complaint and fails later: an empty file is silently
 * initialised as a new database (so a wrong path, or a file truncated by a failed copy, becomes an
 * empty store that acknowledges new events while the real data sits elsewhere), a file the process
 * may not write is opened read-only and fails at the first migration, and a file that is not a
 * database fails at the first read. `checkDatabaseFile` refuses the first two before the driver
 * opens anything; `openFailureLine` turns whatever the driver or the migrations threw into one
 * line naming the file and the deepest cause, for the entries to print before exiting with 1.
 * A new database is created only where no file exists.
 */
import { accessSync, closeSync, constants, existsSync, openSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { sqliteFilePath } from "./file-path.ts";

/** The database file cannot be used; the message is the one line to print. */
export class DatabaseFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatabaseFileError";
  }
}

/** The absolute path of a local database URL, or null for `:memory:` and remote URLs. */
export function localDatabasePath(url: string): string | null {
  if (!url.startsWith("file:") || url === "file::memory:") return null;
  if (/[?&]mode=memory(&|$)/.test(url)) return null;
  const path = sqliteFilePath(url);
  return path === ":memory:" || path === "" ? null : resolve(path);
}

/**
 * Throws `DatabaseFileError` when the file of `url` exists but is not something to open for
 * writing: a directory, an empty (0-byte) file without a write-ahead log, or a file this process
 * may not open for reading and writing (permissions, an immutable or read-only file system); or
 * when its directory exists but cannot be written (SQLite keeps its `-wal` and `-shm` files there).
 * A path that does not exist is fine: the driver creates the database there.
 */
export function checkDatabaseFile(url: string): void {
  const path = localDatabasePath(url);
  if (path === null) return;
  const dir = dirname(path);
  if (existsSync(dir)) {
    try {
      accessSync(dir, constants.W_OK);
    } catch (error) {
      throw new DatabaseFileError(
        `Cannot open the database ${path}: its directory cannot be written (${causeOf(error)})`,
      );
    }
  }
  if (!existsSync(path)) return;
  const stat = statSync(path);
  if (stat.isDirectory()) throw new DatabaseFileError(`Cannot open the database ${path}: it is a directory`);
  if (stat.size === 0 && !(existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0)) {
    throw new DatabaseFileError(
      `Cannot open the database ${path}: the file exists but is empty (0 bytes); a new database is ` +
        "created only where no file exists, so remove it or point DATABASE_URL at the right file",
    );
  }
  let fd: number | undefined;
  try {
    fd = openSync(path, "r+");
  } catch (error) {
    throw new DatabaseFileError(`Cannot open the database ${path} for writing: ${causeOf(error)}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * One line for a failure to open or migrate the database of `url`: the file (or the redacted
 * remote URL) and the deepest cause, e.g. `Cannot open the database /data/x.db: file is not a
 * database`.
 */
export function openFailureLine(url: string, error: unknown): string {
  if (error instanceof DatabaseFileError) return error.message;
  const where = localDatabasePath(url) ?? redactUrl(url);
  return `Cannot open the database ${where}: ${causeOf(error)}`;
}

/** The message of the innermost `cause` (the driver's, not our wrapper's), on one line. */
function causeOf(error: unknown): string {
  let inner = error;
  while (inner instanceof Error && inner.cause !== undefined) inner = inner.cause;
  const text = inner instanceof Error ? inner.message : String(inner);
  return text.replace(/\s+/g, " ").trim() || "unknown error";
}

/** A database URL without its credentials, for logs and messages. */
export function redactUrl(url: string): string {
  return url.replace(/(authToken=)[^&]+/i, "$1***").replace(/\/\/[^@/]+@/, "//***@");
}
