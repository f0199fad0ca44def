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
 * Output: JSON on stdout. Exit status 0 on success, 1 otherwise.
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../../config.ts";
import { sqliteFilePath } from "../sqlite/file-path.ts";
import { restoreDatabaseFile, RestoreError } from "../sqlite/sqlite-restore.ts";

const USAGE = "usage: restore <backup file> [--force]   (restores into DATABASE_URL; stop the server first)";

function fail(message: string): never {
  console.error(message);
  Deno.exit(1);
}

let parsed;
try {
  parsed = parseArgs({
    args: Deno.args,
    options: { force: { type: "boolean", default: false } },
    allowPositionals: true,
    strict: true,
  });
} catch (error) {
  fail(`${(error as Error).message}\n${USAGE}`);
}
const [backup] = parsed.positionals;
if (!backup || parsed.positionals.length > 1) fail(USAGE);

let config;
try {
  config = loadConfig(Deno.env.toObject());
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}
const target = sqliteFilePath(config.databaseUrl);
if (!config.databaseUrl.startsWith("file:") || target === ":memory:") {
  fail(`DATABASE_URL ${config.databaseUrl} is not a local file`);
}

try {
  const result = await restoreDatabaseFile(backup, target, { force: parsed.values.force, now: Date.now() });
  console.log(JSON.stringify({ restored: target, from: backup, ...result }, null, 2));
} catch (error) {
  if (error instanceof RestoreError) fail(error.message);
  fail(`restore failed: ${String(error)}`);
}
