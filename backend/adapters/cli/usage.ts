/**
 * The command line of every CLI (`keys`, `import`, `backup`, `restore`, `simulate`), read one way:
 * `--help` or `-h` prints the usage on stdout and exits 0; an unknown option, an option without
 * its value or a wrong number of arguments prints one line saying what is wrong, then the usage,
 * on stderr, and exits 2. A mistake on the command line never shows a stack trace.
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/** Exit status of a command-line mistake. */
export const USAGE_ERROR = 2;

/**
 * Parses `args` (default: `Deno.args`) with `options`, positionals allowed; handles `--help` and
 * refuses what `options` does not name, as above.
 */
export function parseCommandLine<const O extends ParseArgsOptionsConfig>(
  usage: string,
  options: O,
  args: string[] = Deno.args,
) {
  const end = args.indexOf("--");
  const own = end < 0 ? args : args.slice(0, end);
  if (own.includes("--help") || own.includes("-h")) {
    console.log(usage);
    Deno.exit(0);
  }
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    return usageError((error as Error).message, usage);
  }
}

/** Prints `message` and `usage` on stderr and exits with `USAGE_ERROR`. */
export function usageError(message: string, usage: string): never {
  console.error(message);
  console.error(usage);
  Deno.exit(USAGE_ERROR);
}
