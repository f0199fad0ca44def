/**
 * Whether this process was started by `deno serve` (which serves the main
 * module's default export itself) rather than `deno run`. Deno gives the same
 * `import.meta.main`, `Deno.args` and `Deno.mainModule` under both, so the
 * subcommand is read from the process command line where the OS exposes it
 * (Linux `/proc`). Elsewhere `deno run` is assumed.
 */
export function startedByDenoServe(): boolean {
  try {
    const argv = Deno.readTextFileSync("/proc/self/cmdline").split("\0");
    return argv[1] === "serve";
  } catch {
    return false;
  }
}
