/**
 * Online backup from the command line: writes a consistent copy of the
 * database named by DATABASE_URL to `<file>`, while the server may be running.
 *
 *   npm run backup -- <file> [--force]
 *
 * The CLI opens the database file itself, read-only, in its own process
 * (rather than asking the server, as `import` does: import writes events, which
 * only the server may do; a backup only reads). Under WAL that is consistent:
 * `VACUUM INTO` reads in one transaction, which sees exactly the commits that
 * finished before it began, while the server goes on committing; the copy
 * costs the server no thread and no event-loop time, and it works just as well
 * on a stopped server. It needs the database's host and file access; for a
 * remote server use `POST /v1/admin/backup`. Being read-only it writes no audit
 * entry (whoever can read the file can copy it anyway).
 *
 * An existing `<file>` is refused unless `--force`. Output: JSON on stdout.
 * Exit status 0 on success, 2 for a command-line mistake, 1 otherwise.
 */
import { existsSync } from "node:fs";
import { AppError } from "../../errors.ts";
import { writeBackupFile } from "../sqlite/sqlite-backup.ts";
import { fail, readFileCommand } from "./command-line.ts";

const { file, force, database: source } = readFileCommand(`usage: backup <file> [--force]
       backup --help

Writes a consistent copy of DATABASE_URL's database to <file> while the server may run.
--force  replace an existing <file>
Exit status: 0 written, 1 refused or failed, 2 a command-line mistake.`);
if (!existsSync(source)) fail(`no database at ${source} (DATABASE_URL)`);

const started = Date.now();
try {
  const { bytes } = await writeBackupFile(source, file, { force });
  const finished = Date.now();
  console.log(JSON.stringify(
    {
      file,
      database: source,
      bytes,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      durationMs: finished - started,
    },
    null,
    2,
  ));
} catch (error) {
  if (error instanceof AppError && !(error.cause)) fail(error.message);
  fail(`backup failed: ${String((error as Error).cause ?? error)}`);
}
