/**
 * Ingestion while the heaviest allowed reads run: 4 clients send the largest
 * metric query (every minute of `days` days, one series per device, count,
 * avg and p95 — the quantile reads and merges every stored sketch) and never
 * read a byte of the answer, while a fifth downloads an NDJSON export of the
 * first `exportEvents` events, and single events are posted one at a time
 * (about 50 a second). Prints single-event ingest latency (p50, p99, max),
 * the event loop's largest delay (from the server's own
 * `pulsestream_event_loop_delay_seconds`), the server's RSS and CPU seconds,
 * and the export's rate; then checks that every acknowledged event is stored.
 *
 *   deno run -A bench/reads.ts [devices=500] [days=6] [exportEvents=1000000] [seconds=60]
 *     [--db <path>] [--root <checkout>]
 *
 * The database (one event per device and minute, through the group committer
 * and the engine, so rollups hold every bucket) is built once and reused with
 * `--db`. `--root` starts the server of another checkout on the same file (for
 * a before/after pair). The attack stops when the export has finished or after
 * `seconds`, whichever is first, but not before 20 s; everything stops by
 * itself. `BENCH_STALLED=<n>` changes the number of stalled queries (0: the
 * export alone).
 */
import { boot } from "../backend/adapters/boot.ts";
import type { EnrichedEvent } from "../shared/event.ts";
import { partitionOf } from "../shared/partition.ts";
import { BENCH_KEY, quantile } from "./lib/server.ts";

const args = [...Deno.args];
const option = (name: string): string | null => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : null;
};
const dbPath = option("--db");
const root = option("--root") ?? new URL("..", import.meta.url).pathname;
const [devices = 500, days = 6, exportEvents = 1_000_000, seconds = 60] = args.map(Number);
const dir = dbPath ? null : await Deno.makeTempDir();
const file = dbPath ?? `${dir}/reads.db`;
const MINUTE = 60_000;
const MIN_ATTACK_S = 20;
/** 202s of POST /v1/events in the server's request-duration histogram. */
const INGEST_BUCKETS =
  /^pulsestream_http_request_duration_seconds_bucket\{method="POST",route="\/v1\/events",code="202",le="([^"]+)"\} (\d+)/gm;
const names = Array.from({ length: devices }, (_, i) => `device-${String(i).padStart(4, "0")}`);

interface Loaded {
  devices: number;
  days: number;
  start: number;
  end: number;
}
const loaded = await readJson<Loaded>(`${file}.json`);
if (loaded && (loaded.devices !== devices || loaded.days !== days)) {
  throw new Error(`${file} holds ${loaded.days} days of ${loaded.devices} devices; use another path`);
}
const range = loaded ?? await load();

async function load(): Promise<Loaded> {
  const now = Date.now();
  const end = now - (now % MINUTE);
  const start = end - days * 86_400_000;
  const booted = (await boot({
    DATABASE_URL: `file:${file}`,
    LOG_LEVEL: "warn",
    BOOTSTRAP_API_KEY: BENCH_KEY,
    ROLLUP_FLUSH_MS: "60000",
    RETENTION_CHECK_MS: "86400000",
  }))!;
  const { server } = booted;
  const t0 = performance.now();
  const minutes = days * 1440;
  let batch: EnrichedEvent[] = [];
  let n = 0;
  for (let m = 0; m < minutes; m++) {
    for (let d = 0; d < devices; d++) {
      batch.push({
        id: `e${m}-${d}`,
        deviceId: names[d],
        eventType: "temperature",
        value: 15 + ((m * 7 + d) % 200) / 10,
        timestamp: start + m * MINUTE + (d % 60) * 1000,
        receivedAt: now,
        partition: partitionOf(names[d], 8),
        metadata: null,
        data: null,
      });
      if (batch.length === 10_000) {
        await server.committer.submit(batch);
        n += batch.length;
        batch = [];
        if (n % 200_000 === 0) await server.stream!.flush();
      }
    }
  }
  if (batch.length) await server.committer.submit(batch);
  await server.stream!.flush();
  await server.close();
  console.log(
    `loaded ${(minutes * devices).toLocaleString("en")} events in ${
      ((performance.now() - t0) / 1000).toFixed(0)
    } s`,
  );
  const info = { devices, days, start, end };
  if (dbPath) await Deno.writeTextFile(`${dbPath}.json`, JSON.stringify(info));
  return info;
}

// --- the server under test -------------------------------------------------------------------
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const port = (listener.addr as Deno.NetAddr).port;
listener.close();
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", `${root}/main.tsx`],
  env: {
    DATABASE_URL: `file:${file}`,
    PORT: String(port),
    HOST: "127.0.0.1",
    BOOTSTRAP_API_KEY: BENCH_KEY,
    LOG_LEVEL: "warn",
    METRICS_MAX_SERIES: String(Math.max(1000, devices)),
    RETENTION_CHECK_MS: "86400000",
  },
  stdout: "null",
  stderr: "inherit",
}).spawn();
const url = `http://127.0.0.1:${port}`;
const headers = { "x-api-key": BENCH_KEY };
for (let i = 0; i < 600; i++) {
  try {
    if ((await fetch(`${url}/livez`)).ok) break;
  } catch { /* not listening yet */ }
  await sleep(50);
}

const query = `/v1/metrics?eventType=temperature&from=${range.start}&to=${range.end}&step=1m` +
  `&groupBy=deviceId&limit=${devices}&agg=count,avg,p95`;
// The export covers the first `exportEvents` events: devices per minute are loaded in order.
const exportTo = range.start + Math.ceil(exportEvents / devices) * MINUTE;
const exportPath = `/v1/export?source=events&format=ndjson&from=${range.start}&to=${exportTo}`;

// The export runs under a key of its own: the four stalled queries hold the bench key's slots.
const exportKey = await (async () => {
  const res = await fetch(`${url}/v1/admin/keys`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ name: "export", scopes: ["read"] }),
  });
  return res.status === 201 ? (await res.json()).data.key as string : BENCH_KEY;
})();

const rssBefore = rssMiB(child.pid);
const cpuBefore = cpuSeconds(child.pid);
const loopBefore = await loopHistogram();
const ingestBefore = await loopHistogram(INGEST_BUCKETS);
const acked: string[] = [];
const latencies: number[] = [];
let refusedIngest = 0;
let stop = false;

// Ingest: one single event at a time, ~50 a second, for the whole attack.
const ingesting = (async () => {
  let i = 0;
  while (!stop) {
    const id = `bench-live-${Date.now()}-${i++}`;
    const t = performance.now();
    const res = await fetch(`${url}/v1/events`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ id, deviceId: "live", eventType: "ping", value: i }),
    });
    await res.body?.cancel();
    latencies.push(performance.now() - t);
    if (res.status === 202) acked.push(id);
    else refusedIngest++;
    await sleep(20);
  }
})();
await sleep(1000);

// Four clients that send the query and never read.
const stalled: Deno.TcpConn[] = [];
for (let i = 0; i < (Deno.env.get("BENCH_STALLED") ? Number(Deno.env.get("BENCH_STALLED")) : 4); i++) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(
    `GET ${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: ${BENCH_KEY}\r\n\r\n`,
  ));
  stalled.push(conn);
}
// The export, read as fast as it comes.
const t0 = performance.now();
let rssMax = rssBefore;
const sampling = setInterval(() => (rssMax = Math.max(rssMax, rssMiB(child.pid))), 200);
const exportDone = (async () => {
  const res = await fetch(`${url}${exportPath}`, { headers: { "x-api-key": exportKey } });
  let bytes = 0;
  let lines = 0;
  for await (const chunk of res.body!) {
    bytes += chunk.length;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
  }
  return { status: res.status, bytes, lines, ms: performance.now() - t0 };
})();
const exported = await Promise.race([exportDone, sleep(seconds * 1000).then(() => null)]);
// The stalled queries go on for at least MIN_ATTACK_S whatever the export took.
await sleep(Math.max(0, Math.min(seconds, MIN_ATTACK_S) * 1000 - (performance.now() - t0)));
const attackS = (performance.now() - t0) / 1000;
stop = true;
await ingesting;
clearInterval(sampling);
const cpu = cpuSeconds(child.pid) - cpuBefore;
const loopMax = maxDelay(loopBefore, await loopHistogram());
const serverP99 = quantileBound(ingestBefore, await loopHistogram(INGEST_BUCKETS), 0.99);
for (const conn of stalled) conn.close();

// Every acknowledged event is stored (listed in pages: one read per id would meet the read rate limit).
const stored = new Set<string>();
for (let cursor: string | null = ""; cursor !== null;) {
  const res = await fetch(
    `${url}/v1/events?deviceId=live&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    { headers: { "x-api-key": exportKey } },
  );
  if (res.status === 429 || res.status === 503) { // slots still held by the closing connections
    await res.body?.cancel();
    await sleep(1000);
    continue;
  }
  if (res.status !== 200) throw new Error(`listing the live events: HTTP ${res.status}`);
  const page = (await res.json()).data as { events: { id: string }[]; nextCursor: string | null };
  for (const e of page.events) stored.add(e.id);
  cursor = page.nextCursor;
}
const missing = acked.filter((id) => !stored.has(id)).length;
const sorted = [...latencies].sort((a, b) => a - b);
console.log(
  `root ${root} | ${devices} devices × ${days} days of minutes | query ${query.length} chars`,
);
console.log(
  `single-event ingest during the ${
    attackS.toFixed(0)
  } s attack: ${latencies.length} requests, ${refusedIngest} refused, ` +
    `p50 ${quantile(sorted, 0.5).toFixed(1)} ms, p99 ${quantile(sorted, 0.99).toFixed(1)} ms, ` +
    `max ${sorted[sorted.length - 1].toFixed(1)} ms`,
);
console.log(`server-side single-event ingest p99 (its duration histogram): ${serverP99}`);
console.log(`event loop: largest delay ${loopMax}`);
console.log(
  `server RSS: ${rssBefore.toFixed(0)} MiB before, ${rssMax.toFixed(0)} MiB max (+${
    (rssMax - rssBefore).toFixed(0)
  }) | server CPU ${cpu.toFixed(1)} s`,
);
console.log(
  exported
    ? `export: HTTP ${exported.status}, ${exported.lines.toLocaleString("en")} events, ${
      (exported.bytes / 2 ** 20).toFixed(1)
    } MiB in ${(exported.ms / 1000).toFixed(1)} s (${
      Math.round(exported.lines / (exported.ms / 1000)).toLocaleString("en")
    } events/s)`
    : `export: not finished within ${seconds} s`,
);
console.log(`acknowledged events: ${acked.length}, missing from the store: ${missing}`);
child.kill("SIGKILL");
await child.status;
if (dir) await Deno.remove(dir, { recursive: true });
Deno.exit(missing === 0 ? 0 : 1);

// --- helpers ---
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return null;
  }
}

function rssMiB(pid: number): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) / 1024 : 0;
}

/** User + system CPU seconds of a process, from /proc (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Cumulative counts of a histogram of the server's /metrics by bucket bound (default: event-loop delay). */
async function loopHistogram(
  pattern = /^pulsestream_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\d+)/gm,
): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(pattern)) out.set(m[1], Number(m[2]));
  return out;
}

/** The smallest bucket bound holding quantile `q` of what was observed between two scrapes. */
function quantileBound(before: Map<string, number>, after: Map<string, number>, q: number): string {
  const total = (after.get("+Inf") ?? 0) - (before.get("+Inf") ?? 0);
  for (const [le, n] of after) {
    if (n - (before.get(le) ?? 0) >= q * total) {
      return le === "+Inf" ? "over the largest bucket" : `at most ${Number(le) * 1000} ms`;
    }
  }
  return "unknown";
}

/** The smallest bound under which every delay sampled between the two scrapes fell. */
function maxDelay(before: Map<string, number>, after: Map<string, number>): string {
  const total = (after.get("+Inf") ?? 0) - (before.get("+Inf") ?? 0);
  for (const [le, n] of after) {
    if (n - (before.get(le) ?? 0) === total) {
      return le === "+Inf" ? "over 10 s" : `at most ${Number(le) * 1000} ms`;
    }
  }
  return "unknown";
}
