/**
 * The shared start of the CLIs that work on the database file (`keys`,
 * `backup`, `restore`): the configuration from the environment, validated with
 * the server's own rules, and for `backup` / `restore` one file argument,
 * `--force` and the local database file of DATABASE_URL. Prints one line and
 * exits 1 on a usage or configuration error.
 */
import { parseArgs } from "node:util";
import { type Config, ConfigError, loadConfig } from "../../config.ts";
import { sqliteFilePath } from "../sqlite/file-path.ts";

/** Prints `message` on stderr and exits with status 1. */
export function fail(message: string): never {
  console.error(message);
  Deno.exit(1);
}

/** The configuration from the environment; one line and exit 1 when it is invalid. */
export function loadCliConfig(): Config {
  try {
    return loadConfig(Deno.env.toObject());
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

/** `<file> [--force]` from the command line, and the path of DATABASE_URL's local database file. */
export function readFileCommand(usage: string): { file: string; force: boolean; database: string } {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      options: { force: { type: "boolean", default: false } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    fail(`${(error as Error).message}\n${usage}`);
  }
  const [file] = parsed.positionals;
  if (!file || parsed.positionals.length > 1) fail(usage);
  const config = loadCliConfig();
  const database = sqliteFilePath(config.databaseUrl);
  if (!config.databaseUrl.startsWith("file:") || database === ":memory:") {
    fail(`DATABASE_URL ${config.databaseUrl} is not a local file: use the database provider's backups`);
  }
  return { file, force: parsed.values.force, database };
}
