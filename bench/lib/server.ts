/**
 * Starts a PulseStream server for a benchmark: `deno run -A main.tsx` on a
 * free 127.0.0.1 port with a fresh temp SQLite file and high rate limits,
 * waits for /livez, and stops it (SIGTERM) and removes the file on `stop()`.
 * `env` adds or overrides variables; `at` restarts on a killed server's
 * directory and port (`kill()`: SIGKILL, the file stays); `denoFlags` go
 * before the script (e.g. `--cpu-prof`).
 */
export const BENCH_KEY = "bench-key-0123456789abcdef";
const ROOT = new URL("../..", import.meta.url).pathname;

export interface BenchServer {
  url: string;
  pid: number;
  /** The temp directory holding the database file (and its WAL); removed by `stop()`. */
  dir: string;
  port: number;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/** Server variables a benchmark run may set from its own environment, for comparisons. */
const PASSTHROUGH = [
  "STREAM_PROCESSING",
  "SQLITE_WAL_AUTOCHECKPOINT_PAGES",
  "LIVE_COALESCE_MS",
  "LIVE_MAX_BUFFERED_BYTES",
  "LIVE_MAX_TOTAL_BUFFERED_BYTES",
  "DENO_CONNECTION_GUARD",
  "DATABASE_DIR",
  "STREAM_MAX_SERIES",
  "STREAM_MAX_UNFLUSHED_DEVICES",
  "ROLLUP_FLUSH_MS",
  "READ_WORKER",
];

export async function startBenchServer(
  extra: Record<string, string> = {},
  options: { at?: { dir: string; port: number }; denoFlags?: string[] } = {},
): Promise<BenchServer> {
  const env = {
    ...Object.fromEntries(PASSTHROUGH.flatMap((k) => (Deno.env.get(k) ? [[k, Deno.env.get(k)!]] : []))),
    ...extra,
  };
  const dir = options.at?.dir ?? await Deno.makeTempDir({ dir: env.DATABASE_DIR });
  const port = options.at?.port ?? freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...(options.denoFlags ?? []), `${ROOT}main.tsx`],
    env: {
      DATABASE_URL: `file:${dir}/bench.db`,
      PORT: String(port),
      HOST: "127.0.0.1",
      BOOTSTRAP_API_KEY: BENCH_KEY,
      LOG_LEVEL: "warn",
      RATE_LIMIT_EVENTS_PER_SEC: "1000000000",
      RATE_LIMIT_BURST: "1000000000",
      ...env,
    },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  // A restart replays what the rollups did not hold yet before it listens: allow minutes.
  for (let i = 0; i < 6000; i++) {
    try {
      if ((await fetch(`${url}/livez`)).ok) break;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    pid: child.pid,
    dir,
    port,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
    async kill() {
      child.kill("SIGKILL");
      await child.status;
    },
  };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Peak resident memory (VmHWM) of a process, MiB, or null where /proc is missing. */
export function peakRssMiB(pid: number): number | null {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmHWM:\s+(\d+) kB/m);
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** The value at quantile q of ascending `sorted`. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
