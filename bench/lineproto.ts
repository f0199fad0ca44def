/**
 * Line protocol ingest, PulseStream vs InfluxDB 1.x (`influxd`, Debian package `influxdb`), on the
 * same gzipped batches in one sitting:
 *
 *   deno run -A bench/lineproto.ts [batches=60] [lines=5000] [concurrency=4] [runs=3]
 *
 * Each batch is `lines` lines of `sensor,device=dev-<n>,site=s<n> value=<float> <ns timestamp>`
 * over 1,000 devices (one point = one event), all timestamps distinct and recent, gzipped before
 * the clock starts. Each run starts a fresh server (PulseStream: `POST /api/v2/write?precision=ns`,
 * a fresh SQLite file; InfluxDB: `POST /write?db=bench&precision=ns`, a fresh data directory),
 * sends every batch with `concurrency` requests in flight, and stops the clock when the last
 * answer is in; every answer must be 204, and the stored count is checked afterwards
 * (PulseStream: `/v1/events` pages are not counted, its `pulsestream_events_total` is read from
 * `/metrics`; InfluxDB: `count(value)`). Runs alternate between the two; medians of `runs`.
 */
import { gzipSync } from "node:zlib";
import { influxPoints, influxVersion, startInflux } from "./lib/influxdb.ts";
import { BENCH_KEY, peakRssMiB, startBenchServer } from "./lib/server.ts";

const [batches, lines, concurrency, runs] = [60, 5000, 4, 3].map((d, i) => Number(Deno.args[i] ?? d));
const DEVICES = 1000;

function makeBatches(): Uint8Array[] {
  const start = (Date.now() - 3_600_000) * 1_000_000;
  const out: Uint8Array[] = [];
  let n = 0;
  for (let b = 0; b < batches; b++) {
    const body: string[] = [];
    for (let i = 0; i < lines; i++, n++) {
      const device = n % DEVICES;
      const value = (20 + Math.sin(n / 50) * 5).toFixed(3);
      body.push(`sensor,device=dev-${device},site=s${device % 10} value=${value} ${start + n * 1000}`);
    }
    out.push(new Uint8Array(gzipSync(body.join("\n"))));
  }
  return out;
}

/** Sends every batch to `url` with `concurrency` in flight; resolves with the elapsed ms. */
async function send(url: string, headers: Record<string, string>, bodies: Uint8Array[]): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const res = await fetch(url, {
        method: "POST",
        body,
        headers: { "content-encoding": "gzip", "content-type": "text/plain; charset=utf-8", ...headers },
      });
      const text = await res.text();
      if (res.status !== 204) throw new Error(`${url} answered ${res.status}: ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return performance.now() - started;
}

async function pulsestreamStored(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.match(/^pulsestream_events_total\{transport="http",outcome="accepted"\} (\d+)/m);
  return m ? Number(m[1]) : NaN;
}

async function runPulseStream(bodies: Uint8Array[]): Promise<{ rate: number; rss: number | null }> {
  const server = await startBenchServer();
  try {
    const ms = await send(`${server.url}/api/v2/write?org=o&bucket=b&precision=ns`, {
      authorization: `Token ${BENCH_KEY}`,
    }, bodies);
    const stored = await pulsestreamStored(server.url);
    if (stored !== batches * lines) throw new Error(`PulseStream stored ${stored} of ${batches * lines}`);
    return { rate: (batches * lines) / (ms / 1000), rss: peakRssMiB(server.pid) };
  } finally {
    await server.stop();
  }
}

async function runInflux(bodies: Uint8Array[]): Promise<{ rate: number; rss: number | null }> {
  const influx = await startInflux("bench");
  try {
    const ms = await send(`${influx.url}/write?db=bench&precision=ns`, {}, bodies);
    const stored = await influxPoints(influx.url, "bench", ["sensor"]);
    if (stored !== batches * lines) throw new Error(`InfluxDB stored ${stored} of ${batches * lines}`);
    return { rate: (batches * lines) / (ms / 1000), rss: peakRssMiB(influx.pid) };
  } finally {
    await influx.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

const version = await influxVersion();
const bodies = makeBatches();
console.log(
  `${batches} batches × ${lines} lines (gzip ${
    fmt(bodies.reduce((s, b) => s + b.byteLength, 0) / batches)
  } B each), ` +
    `${concurrency} in flight; influxd: ${version ?? "not installed"}`,
);
const results: Record<string, number[]> = { pulsestream: [], influxdb: [] };
for (let r = 0; r < runs; r++) {
  const ps = await runPulseStream(bodies);
  results.pulsestream.push(ps.rate);
  console.log(`run ${r + 1} pulsestream: ${fmt(ps.rate)} points/s (peak RSS ${ps.rss?.toFixed(0)} MiB)`);
  if (version) {
    const ix = await runInflux(bodies);
    results.influxdb.push(ix.rate);
    console.log(`run ${r + 1} influxdb:    ${fmt(ix.rate)} points/s (peak RSS ${ix.rss?.toFixed(0)} MiB)`);
  }
}
const ps = median(results.pulsestream);
console.log(`median pulsestream: ${fmt(ps)} points/s (${results.pulsestream.map(fmt).join(" / ")})`);
if (results.influxdb.length) {
  const ix = median(results.influxdb);
  console.log(`median influxdb:    ${fmt(ix)} points/s (${results.influxdb.map(fmt).join(" / ")})`);
  console.log(`ratio pulsestream / influxdb: ${(ps / ix).toFixed(2)}`);
}
