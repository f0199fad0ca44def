/**
 * The shared start of the CLIs that work on the database file (`keys`,
 * `backup`, `restore`): the configuration from the environment, validated with
 * the server's own rules, and for `backup` / `restore` one file argument,
 * `--force` and the local database file of DATABASE_URL. A command-line mistake
 * exits 2 (`usage.ts`); a configuration error prints one line and exits 1.
 */
import { type Config, ConfigError, loadConfig } from "../../config.ts";
import { sqliteFilePath } from "../sqlite/file-path.ts";
import { parseCommandLine, usageError } from "./usage.ts";

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
  const parsed = parseCommandLine(usage, { force: { type: "boolean", default: false } });
  const [file] = parsed.positionals;
  if (!file) usageError("a file is needed", usage);
  if (parsed.positionals.length > 1) usageError(`unexpected argument: ${parsed.positionals[1]}`, usage);
  const config = loadCliConfig();
  const database = sqliteFilePath(config.databaseUrl);
  if (!config.databaseUrl.startsWith("file:") || database === ":memory:") {
    fail(`DATABASE_URL ${config.databaseUrl} is not a local file: use the database provider's backups`);
  }
  return { file, force: parsed.values.force, database };
}
