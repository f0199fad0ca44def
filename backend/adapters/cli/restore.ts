/**
 * Restores a backup as the database named by DATABASE_URL. Stop the server
 * first: a database in use is refused.
 *
 *   npm run restore -- <backup file> [--force]
 *
 * The backup is checked (`PRAGMA quick_check`, PulseStream schema) before
 * anything changes. An existing database is replaced only with `--force`, and
 * is then kept as `<file>.pre-restore-<time>` (with its -wal/-shm, if any).
 * Start the server afterwards: it migrates the schema if the backup is older
 * and replays the rollups from the backup's checkpoint (docs/STORAGE.md).
 * Output: JSON on stdout. Exit status 0 on success, 2 for a command-line mistake, 1 otherwise.
 */
import { restoreDatabaseFile, RestoreError } from "../sqlite/sqlite-restore.ts";
import { fail, readFileCommand } from "./command-line.ts";

const { file: backup, force, database: target } = readFileCommand(`usage: restore <backup file> [--force]
       restore --help

Restores a backup as DATABASE_URL's database; stop the server first.
--force  replace an existing database (kept as <file>.pre-restore-<time>)
Exit status: 0 restored, 1 refused or failed, 2 a command-line mistake.`);

try {
  const result = await restoreDatabaseFile(backup, target, { force, now: Date.now() });
  console.log(JSON.stringify({ restored: target, from: backup, ...result }, null, 2));
} catch (error) {
  if (error instanceof RestoreError) fail(error.message);
  fail(`restore failed: ${String(error)}`);
}
