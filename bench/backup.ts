// Online backup of a large database: how long the copy takes and what single-event ingest latency does
// meanwhile, through `POST /v1/admin/backup` and through the `backup` CLI (a separate process).
// Usage: deno run -A bench/backup.ts [--gb 1] [--dir <dir>] [--runtime deno|node] [--clients 4]
//   --gb:  size of the database to back up; it is filled over HTTP (batches of 1,000 events with ~1 KB of
//          incompressible payload each) unless --dir already holds a database of that size.
//   --dir: where the database lives (kept afterwards, for reruns); default: a temp dir, removed at the end.
// Prints, per phase (before any backup, during the API backup, during the CLI backup): single-event
// requests answered, p50 / p99 / max latency (ms), the server's CPU-seconds (utime + stime from
// /proc/<pid>/stat, the worker thread included), and the peak size of the -wal file. Stops by itself.
import { parseArgs } from "node:util";
import { quantile } from "./lib/server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    gb: { type: "string", default: "1" },
    dir: { type: "string" },
    runtime: { type: "string", default: "deno" },
    clients: { type: "string", default: "4" },
  },
});
const TARGET_BYTES = Number(values.gb) * 2 ** 30;
const CLIENTS = Number(values.clients);
const KEY = "bench-key-0123456789abcdef";
const ROOT = new URL("..", import.meta.url).pathname;
const MiB = 2 ** 20;
const dir = values.dir ?? await Deno.makeTempDir({ prefix: "pulsestream-backup-bench-" });
await Deno.mkdir(dir, { recursive: true });
const dbPath = `${dir}/bench.db`;
const headers = { "x-api-key": KEY, "content-type": "application/json" };

const size = (path: string) => {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
};
const cpuSeconds = (pid: number) => {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
};

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const port = (listener.addr as Deno.NetAddr).port;
listener.close();
const url = `http://127.0.0.1:${port}`;
const [cmd, args] = values.runtime === "node"
  ? ["node", ["--import", "tsx", `${ROOT}backend/adapters/node/main.ts`]]
  : [Deno.execPath(), ["run", "-A", `${ROOT}main.tsx`]];
const env = {
  DATABASE_URL: `file:${dbPath}`,
  BACKUP_DIR: `${dir}/backups`,
  PORT: String(port),
  HOST: "127.0.0.1",
  BOOTSTRAP_API_KEY: KEY,
  LOG_LEVEL: "warn",
  RATE_LIMIT_EVENTS_PER_SEC: "1000000000",
  RATE_LIMIT_BURST: "1000000000",
};
const existing = size(dbPath) > 0;
const child = new Deno.Command(cmd, { args, cwd: ROOT, env, stdout: "null", stderr: "inherit" }).spawn();
try {
  for (let i = 0;; i++) {
    try {
      if ((await fetch(`${url}/livez`)).ok) break;
    } catch { /* not listening yet */ }
    if (i > 1200) throw new Error("server did not start in 60 s");
    await new Promise((r) => setTimeout(r, 50));
  }

  // Fill.
  const fillStart = performance.now();
  let filled = 0;
  const blob = () => {
    const raw = new Uint8Array(768);
    crypto.getRandomValues(raw);
    return btoa(String.fromCharCode(...raw));
  };
  const base = Date.now() - 6 * 86_400_000;
  await Promise.all(Array.from({ length: 2 }, async (_, c) => {
    // A database from an earlier run (--dir) counts as filled at 90 %: its WAL was folded in at the stop.
    for (let b = 0; size(dbPath) + size(`${dbPath}-wal`) < TARGET_BYTES * (existing ? 0.9 : 1); b++) {
      const events = Array.from({ length: 1000 }, (_, i) => ({
        deviceId: `dev-${(b * 1000 + i) % 1000}`,
        eventType: i % 2 ? "temperature" : "pressure",
        value: i,
        timestamp: base + (filled + i) * 400,
        data: { blob: blob() },
      }));
      const res = await fetch(`${url}/v1/events`, { method: "POST", headers, body: JSON.stringify(events) });
      await res.arrayBuffer();
      if (res.status !== 202) throw new Error(`fill: ${res.status} (client ${c})`);
      filled += 1000;
    }
  }));
  if (filled) {
    console.log(
      `filled ${filled} events in ${((performance.now() - fillStart) / 1000).toFixed(1)} s: ${
        (size(dbPath) / MiB).toFixed(0)
      } MiB + ${(size(`${dbPath}-wal`) / MiB).toFixed(0)} MiB WAL`,
    );
  }
  await new Promise((r) => setTimeout(r, 2000)); // let the last rollup flush and checkpoint settle

  // Single-event load for the whole measurement; latencies tagged with the phase they started in.
  let phase = "idle";
  let running = true;
  const latencies = new Map<string, number[]>();
  let errors = 0;
  const load = Array.from({ length: CLIENTS }, async (_, c) => {
    for (let n = 0; running; n++) {
      const p = phase;
      const t = performance.now();
      const res = await fetch(`${url}/v1/events`, {
        method: "POST",
        headers,
        body: JSON.stringify({ deviceId: `probe-${c}`, eventType: "probe", value: n }),
      });
      await res.arrayBuffer();
      if (res.status !== 202) errors++;
      const list = latencies.get(p) ?? [];
      list.push(performance.now() - t);
      latencies.set(p, list);
    }
  });
  let walPeak = 0;
  const walSampler = setInterval(() => (walPeak = Math.max(walPeak, size(`${dbPath}-wal`))), 50);
  const report = (name: string, cpu: number, extra = "") => {
    const sorted = (latencies.get(name) ?? []).sort((a, b) => a - b);
    console.log(
      `${name.padEnd(12)} ${String(sorted.length).padStart(6)} requests  p50 ${
        quantile(sorted, 0.5).toFixed(1)
      }  p99 ${quantile(sorted, 0.99).toFixed(1)}  max ${
        sorted[sorted.length - 1].toFixed(1)
      } ms  server CPU ${cpu.toFixed(2)} s  WAL peak ${(walPeak / MiB).toFixed(0)} MiB${extra}`,
    );
    walPeak = 0;
  };

  const during = async (name: string, work: () => Promise<string>) => {
    phase = name;
    const cpu = cpuSeconds(child.pid);
    const extra = await work();
    const used = cpuSeconds(child.pid) - cpu;
    phase = "idle";
    report(name, used, extra);
  };
  console.log(
    `database ${
      ((size(dbPath) + size(`${dbPath}-wal`)) / MiB).toFixed(0)
    } MiB (file + WAL), ${CLIENTS} clients posting single events`,
  );
  await during("no backup", () => new Promise((r) => setTimeout(() => r(""), 5000)));
  await during("API backup", async () => {
    const res = await fetch(`${url}/v1/admin/backup`, {
      method: "POST",
      headers,
      body: JSON.stringify({ name: "api.db", force: true }),
    });
    const body = await res.json();
    if (res.status !== 201) throw new Error(`backup: ${res.status} ${JSON.stringify(body)}`);
    const { bytes, durationMs } = body.data;
    return `  | copy ${(bytes / MiB).toFixed(0)} MiB in ${(durationMs / 1000).toFixed(2)} s (${
      (bytes / MiB / (durationMs / 1000)).toFixed(0)
    } MiB/s)`;
  });
  await new Promise((r) => setTimeout(r, 3000));
  await during("CLI backup", async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}backend/adapters/cli/backup.ts`, `${dir}/cli.db`, "--force"],
      cwd: ROOT,
      env: { DATABASE_URL: `file:${dbPath}` },
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error("CLI backup failed");
    const { bytes, durationMs } = JSON.parse(new TextDecoder().decode(out.stdout));
    return `  | copy ${(bytes / MiB).toFixed(0)} MiB in ${
      (durationMs / 1000).toFixed(2)
    } s (CLI process; server CPU excludes it)`;
  });
  running = false;
  clearInterval(walSampler);
  await Promise.all(load);
  console.log(`errors (non-202): ${errors}`);
} finally {
  child.kill("SIGTERM");
  await child.status;
  await Deno.remove(`${dir}/backups`, { recursive: true }).catch(() => {});
  await Deno.remove(`${dir}/cli.db`).catch(() => {});
  if (!values.dir) await Deno.remove(dir, { recursive: true });
}
