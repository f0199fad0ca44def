/**
 * Restores a backup (a file written by `VACUUM INTO`, see sqlite-backup.ts)
 * as the database file, for the `restore` CLI. The server must be stopped:
 * a file is never replaced under a running server (checked by taking the
 * database out of WAL mode, which SQLite allows only to the one open
 * connection). The backup is checked first (`PRAGMA quick_check`, and that it
 * is a PulseStream database); the current file, if any, is kept beside it as
 * `<file>.pre-restore-<time>`; the copy is synced under a temporary name and
 * renamed into place, so a crash leaves either the old or the new database.
 *
 * The next start of the server opens the restored file as after a crash:
 * migrations bring an older schema up to date, and the rollups are replayed
 * from the checkpoint the backup holds (docs/STORAGE.md).
 */
import { DatabaseSync } from "node:sqlite";
import { copyFile, mkdir, rename, rm, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { syncDir, syncFile } from "./sqlite-backup.ts";

/** A restore that was refused or failed; the message is for the operator. */
export class RestoreError extends Error {}

/** Checks that `path` is an intact PulseStream database; returns its schema version. */
export function checkBackupFile(path: string): { schemaVersion: number } {
  if (!existsSync(path)) throw new RestoreError(`no backup file at ${path}`);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true });
  } catch (error) {
    throw new RestoreError(`cannot open ${path}: ${(error as Error).message}`);
  }
  try {
    const check = db.prepare("PRAGMA quick_check").all() as { quick_check: string }[];
    if (check.length !== 1 || check[0].quick_check !== "ok") {
      throw new RestoreError(`${path} is damaged: ${check.map((r) => r.quick_check).slice(0, 3).join("; ")}`);
    }
    const row = db.prepare("SELECT max(version) AS v FROM schema_migrations").get() as { v: number | null };
    return { schemaVersion: row.v ?? 0 };
  } catch (error) {
    if (error instanceof RestoreError) throw error;
    throw new RestoreError(`${path} is not a PulseStream database: ${(error as Error).message}`);
  } finally {
    db.close();
  }
}

/**
 * Fails unless no other connection has `path` open; leaves it in rollback-journal mode, its
 * WAL checkpointed into it and removed, so the file alone is the whole database.
 */
function takeOffline(path: string): void {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (error) {
    throw new RestoreError(`cannot open the current database ${path}: ${(error as Error).message}`);
  }
  try {
    db.exec("PRAGMA busy_timeout=0");
    const [row] = db.prepare("PRAGMA journal_mode=DELETE").all() as { journal_mode: string }[];
    if (row?.journal_mode !== "delete") throw new Error(`journal mode stayed ${row?.journal_mode}`);
  } catch (error) {
    throw new RestoreError(
      `the database ${path} is in use (stop the server first): ${(error as Error).message}`,
    );
  } finally {
    db.close();
  }
}

/**
 * Puts a copy of `backup` in place of the database file `target`. An existing `target` is
 * refused unless `force`, and then kept as `previous`.
 */
export async function restoreDatabaseFile(
  backup: string,
  target: string,
  options: { force: boolean; now: number },
): Promise<{ bytes: number; schemaVersion: number; previous: string | null }> {
  const { schemaVersion } = checkBackupFile(backup);
  let previous: string | null = null;
  if (existsSync(target)) {
    if (!options.force) {
      throw new RestoreError(
        `${target} exists: pass --force to replace it (it is kept as a .pre-restore file)`,
      );
    }
    takeOffline(target);
    previous = `${target}.pre-restore-${new Date(options.now).toISOString().replace(/[-:]|\.\d+/g, "")}`;
  }
  // Leftover -wal/-shm of another database would be applied to the restored file: never keep them.
  for (const suffix of ["-wal", "-shm", "-journal"]) {
    if (existsSync(target + suffix)) {
      if (previous === null) {
        throw new RestoreError(`${target + suffix} exists without its database; remove it first`);
      }
      await rename(target + suffix, previous + suffix);
    }
  }
  const dir = dirname(target);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(target)}.restoring-${crypto.randomUUID()}`);
  try {
    await copyFile(backup, temp);
    await syncFile(temp);
    if (previous !== null) await rename(target, previous);
    await rename(temp, target);
    await syncDir(dir);
  } finally {
    await rm(temp, { force: true });
  }
  return { bytes: (await stat(target)).size, schemaVersion, previous };
}
