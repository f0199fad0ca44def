/**
 * Metric query latency from rollups: D devices, N events spread over the 24 h
 * before the load, then `GET /v1/metrics` for those 24 h at a 1-minute step,
 * count/avg/min/max per device (groupBy=deviceId), through the real app
 * (routing, auth, JSON).
 *
 *   deno run -A bench/query.ts [devices=100] [events=1000000] [runs=15] [--db <path>] [--http]
 *
 * Loading goes through the group committer and the stream engine like live
 * ingestion (events land in the raw table and in rollups); the engine is
 * flushed every 200,000 events. The clock is the real one, so every event is
 * "late" (older than the watermark) and corrects its stored bucket. Prints
 * load rate, rollup rows, then per-run query time, the median and the answer
 * size. Without `--db` the temp database is removed at the end.
 *
 * `--db <path>` keeps the database: the first run loads it and writes the
 * load's devices, events and time range next to it (`<path>.json`); later runs
 * with the same devices and events reuse it (loading 10 M events takes
 * minutes) and query the same 24 h. `--http` sends the queries over a real
 * socket (`Deno.serve` on 127.0.0.1) instead of `app.request()`; the time is to
 * the last byte of the answer either way.
 */
import process from "node:process";
import { boot } from "../backend/adapters/boot.ts";
import type { EnrichedEvent } from "../shared/event.ts";
import { partitionOf } from "../shared/partition.ts";

const args = [...Deno.args];
const httpFlag = args.indexOf("--http");
if (httpFlag >= 0) args.splice(httpFlag, 1);
const dbFlag = args.indexOf("--db");
const dbPath = dbFlag >= 0 ? args.splice(dbFlag, 2)[1] : null;
if (dbFlag >= 0 && !dbPath) throw new Error("--db needs a path");
const [devices = 100, total = 1_000_000, runs = 15] = args.map(Number);
const KEY = "bench-key-0123456789abcdef";
const dir = dbPath ? null : await Deno.makeTempDir();
const file = dbPath ?? `${dir}/q.db`;
interface Loaded {
  devices: number;
  total: number;
  start: number;
  end: number;
}
const loaded = await readLoaded(`${file}.json`);
if (loaded && (loaded.devices !== devices || loaded.total !== total)) {
  throw new Error(`${file} holds ${loaded.total} events of ${loaded.devices} devices; use another path`);
}
const booted = (await boot({
  DATABASE_URL: `file:${file}`,
  LOG_LEVEL: "warn",
  BOOTSTRAP_API_KEY: KEY,
  ROLLUP_FLUSH_MS: "60000",
  METRICS_MAX_SERIES: String(Math.max(1000, devices)),
}))!;
const { server } = booted;
const now = Date.now();
const end = loaded?.end ?? now - (now % 60_000);
const start = loaded?.start ?? end - 86_400_000;
const names = Array.from({ length: devices }, (_, i) => `device-${String(i).padStart(4, "0")}`);

if (loaded) console.log(`reusing ${file}: ${total.toLocaleString("en")} events for ${devices} devices`);
else await load();

async function load(): Promise<void> {
  const t0 = performance.now();
  const BATCH = 10_000;
  for (let done = 0; done < total; done += BATCH) {
    const batch: EnrichedEvent[] = [];
    for (let i = done; i < Math.min(total, done + BATCH); i++) {
      const d = i % devices;
      batch.push({
        id: `e${i}`,
        deviceId: names[d],
        eventType: "temperature",
        value: 15 + (i % 200) / 10,
        timestamp: start + Math.floor((i / total) * 86_400_000),
        receivedAt: now,
        partition: partitionOf(names[d], 8),
        metadata: null,
        data: null,
      });
    }
    await server.committer.submit(batch);
    if ((done + BATCH) % 200_000 === 0) await server.stream!.flush();
  }
  await server.stream!.flush();
  const loadS = (performance.now() - t0) / 1000;
  console.log(
    `loaded ${total.toLocaleString("en")} events for ${devices} devices in ${loadS.toFixed(1)} s ` +
      `(${Math.round(total / loadS).toLocaleString("en")} events/s incl. rollups)`,
  );
  if (dbPath) {
    await Deno.writeTextFile(
      `${dbPath}.json`,
      JSON.stringify({ devices, total, start, end } satisfies Loaded),
    );
  }
}

{
  // Rollup storage figures, read straight from the file.
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(file, { readOnly: true });
  const r = db.prepare(
    `SELECT resolution, count(*) AS n, avg(length(sketch)) AS sketch, avg(length(devices)) AS hll
       FROM (SELECT resolution, sketch, devices FROM rollups_c
             UNION ALL SELECT resolution, sketch, devices FROM rollups) GROUP BY resolution`,
  ).all() as { resolution: number; n: number; sketch: number; hll: number | null }[];
  for (const x of r) {
    console.log(
      `rollups at ${x.resolution / 1000} s: ${x.n.toLocaleString("en")} rows, sketch ${
        x.sketch.toFixed(0)
      } B/row avg` +
        (x.hll === null ? "" : `, device HLL ${x.hll.toFixed(0)} B/row avg (all-device rows)`),
    );
  }
  try {
    const [size] = db.prepare(
      "SELECT sum(pgsize) AS bytes FROM dbstat WHERE name IN ('rollups', 'rollups_c')",
    ).all() as {
      bytes: number;
    }[];
    const rows = r.reduce((n, x) => n + x.n, 0);
    console.log(
      `rollup tables: ${(size.bytes / 2 ** 20).toFixed(1)} MiB on disk, ${
        (size.bytes / rows).toFixed(0)
      } B/row`,
    );
  } catch {
    console.log("rollups table size: dbstat is not available in this SQLite build");
  }
  db.close();
}

const url = `/v1/metrics?eventType=temperature&from=${start}&to=${end}&step=1m&agg=count,avg,min,max` +
  `&groupBy=deviceId&limit=${devices}`;
const listener = httpFlag >= 0
  ? Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, server.app.fetch)
  : null;
const ask = listener
  ? (path: string, init: RequestInit) => fetch(`http://127.0.0.1:${listener.addr.port}${path}`, init)
  : (path: string, init: RequestInit) => server.app.request(path, init);
const times: number[] = [];
/** CPU time of this process per run (server and client share it), less sensitive to a busy machine. */
const cpu: number[] = [];
let bytes = 0;
let points = 0;
for (let r = 0; r < runs; r++) {
  const t = performance.now();
  const c = process.cpuUsage();
  const res = await ask(url, { headers: { "x-api-key": KEY } });
  // The time to the answer's last byte; joining and decoding it for the checks below is the
  // client's business.
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let length = 0;
  for await (const chunk of res.body as ReadableStream<Uint8Array<ArrayBuffer>>) {
    chunks.push(chunk);
    length += chunk.length;
  }
  times.push(performance.now() - t);
  const used = process.cpuUsage(c);
  cpu.push((used.user + used.system) / 1000);
  if (res.status !== 200) throw new Error(`query failed: ${res.status}`);
  // Parsing 34 MiB builds millions of objects whose collection would land in the next run's
  // time: every answer must have the first one's length, the first and the last are parsed and
  // must count every event.
  if (r > 0 && r < runs - 1) {
    if (length !== bytes) throw new Error(`answer ${r} has ${length} bytes, the first ${bytes}`);
    continue;
  }
  const text = await new Blob(chunks).text();
  bytes = text.length;
  const body = JSON.parse(text);
  points = body.timestamps.length * body.series.length;
  const counted = body.series.reduce(
    (n: number, s: { values: { count: (number | null)[] } }) =>
      n + s.values.count.reduce((a: number, b) => a + (b ?? 0), 0),
    0,
  );
  if (counted !== total) throw new Error(`answer counts ${counted} events, expected ${total}`);
}
console.log(`runs in order (ms): ${times.map((t) => t.toFixed(1)).join(" ")}`);
const warmCpu = cpu.slice(1).sort((a, b) => a - b);
console.log(
  `CPU per run (ms): ${cpu.map((t) => t.toFixed(0)).join(" ")} | median of the rest ${
    (warmCpu[warmCpu.length >> 1] ?? 0).toFixed(1)
  } ms`,
);
const cold = times[0];
const warm = times.slice(1).sort((a, b) => a - b);
console.log(
  `first (cold cache) ${cold.toFixed(1)} ms, median of the rest ${warm[warm.length >> 1].toFixed(1)} ms | ` +
    `${points.toLocaleString("en")} points ` +
    `(${devices} series × 1440), answer ${(bytes / 2 ** 20).toFixed(1)} MiB | ` +
    `${listener ? "HTTP" : "app.request"} | deno ${Deno.version.deno}`,
);
await listener?.shutdown();
await server.close();
if (dir) await Deno.remove(dir, { recursive: true });

async function readLoaded(path: string): Promise<Loaded | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as Loaded;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
