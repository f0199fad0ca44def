/**
 * Cardinality at full speed (issue 16, "2 M distinct devices"): a real Deno
 * server takes `devices` events, each from a new device, in batches as fast as
 * `concurrency` clients can post them; then it is killed with SIGKILL and
 * restarted on the same database, whose replay folds what the rollups did not
 * hold yet. Prints the ingest rate, the server's CPU-seconds per million
 * events, its peak RSS in both lives (VmHWM, bound 1.5 GiB), the replay, and
 * checks that the all-device rollups count every event after the restart.
 *
 *   deno run -A bench/cardinality.ts [devices=2000000] [batch=5000] [concurrency=4]
 *
 * Server settings are the defaults (STREAM_MAX_SERIES 20,000) unless set in this script's
 * environment (STREAM_MAX_SERIES, STREAM_MAX_UNFLUSHED_DEVICES, ROLLUP_FLUSH_MS, STREAM_PROCESSING;
 * see bench/lib/server.ts).
 */
import { BENCH_KEY, type BenchServer, startBenchServer } from "./lib/server.ts";

const [devices = 2_000_000, batch = 5000, concurrency = 4] = Deno.args.map(Number);
const HOUR = 3_600_000;
const BOUND_MIB = 1536;
const headers = { "x-api-key": BENCH_KEY, "content-type": "application/json" };

/** Starts the server (on `at`: again on a killed one's file and port), timing it until /livez. */
async function start(at: { dir: string; port: number } | null): Promise<BenchServer & { startMs: number }> {
  const t = performance.now();
  const server = await startBenchServer({ LOG_LEVEL: Deno.env.get("LOG_LEVEL") ?? "silent" }, {
    at: at ?? undefined,
  });
  return { ...server, startMs: performance.now() - t };
}

/** Resident (VmRSS) and peak resident (VmHWM) memory of `pid`, MiB. */
function memory(pid: number): { rss: number; peak: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))![1]);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

/** User + system CPU time of `pid`, seconds (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function scrape(server: BenchServer): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^pulsestream_stream_(tracked_series|series_over_budget\w*) (\S+)$/gm)) {
    out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Every event since `from`, from the all-device hourly rollups (exact counts). */
async function allDeviceCount(server: BenchServer, from: number): Promise<number> {
  const params = new URLSearchParams({
    eventType: "reading",
    from: String(from - (from % HOUR)),
    to: String(Date.now() + 1),
    step: "1h",
    agg: "count",
  });
  const body = await (await fetch(`${server.url}/v1/metrics?${params}`, { headers })).json();
  return (body.series[0]?.values.count ?? []).reduce((a: number, b: number | null) => a + (b ?? 0), 0);
}

let server = await start(null);
try {
  const startedAt = Date.now();
  let next = 0;
  let errors = 0;
  let refused = 0;
  let peakSeen = 0;
  const timeline: number[] = [];
  const heapTimeline: number[] = [];
  let ticks = 0;
  const sampler = setInterval(() => {
    const rss = memory(server.pid).rss;
    peakSeen = Math.max(peakSeen, rss);
    if (ticks++ % 20 === 0) {
      timeline.push(Math.round(rss));
      // The JavaScript heap's share of it (the rest: SQLite, the writer worker, the runtime).
      fetch(`${server.url}/metrics`).then((r) => r.text()).then((text) => {
        const m = /^pulsestream_heap_total_bytes (\S+)$/m.exec(text);
        if (m) heapTimeline.push(Math.round(Number(m[1]) / 2 ** 20));
      }).catch(() => {});
    }
  }, 250);
  const cpu0 = cpuSeconds(server.pid);
  const t0 = performance.now();
  const client = async () => {
    while (next < devices) {
      const from = next;
      next = Math.min(devices, next + batch);
      const body = [];
      for (let d = from; d < next; d++) {
        body.push({ deviceId: `device-${d}`, eventType: "reading", value: d % 1000, timestamp: Date.now() });
      }
      const text = JSON.stringify(body);
      for (;;) {
        const res = await fetch(`${server.url}/v1/events`, { method: "POST", headers, body: text });
        const answer = await res.json();
        if (res.status === 503) {
          // The engine is behind its flushes (STREAM_MAX_UNFLUSHED_DEVICES): back off, send again.
          refused++;
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        if (res.status !== 202 || answer.data.totals.accepted !== body.length) errors++;
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(server.pid) - cpu0;
  clearInterval(sampler);
  const before = await scrape(server);
  const first = memory(server.pid);
  await server.kill();

  server = await start({ dir: server.dir, port: server.port });
  const second = memory(server.pid);
  const health = await (await fetch(`${server.url}/health`)).json();
  const counted = await allDeviceCount(server, startedAt);
  const after = await scrape(server);
  const peakAfter = memory(server.pid).peak;
  console.log(JSON.stringify(
    {
      devices,
      batch,
      concurrency,
      errors,
      refused503: refused,
      eventsPerSec: Math.round(devices / seconds),
      serverCpuSecondsPerMillionEvents: Math.round((cpu / devices) * 1e6 * 10) / 10,
      ingest: {
        peakRssMiB: Math.round(first.peak),
        sampledMaxRssMiB: Math.round(peakSeen),
        rssEvery5s: timeline,
        heapTotalEvery5s: heapTimeline,
      },
      budget: before,
      restart: {
        startToLiveMs: Math.round(server.startMs),
        replayedEvents: health.stream?.replayedEvents ?? null,
        peakRssMiB: Math.round(Math.max(second.peak, peakAfter)),
        budget: after,
      },
      allDeviceCount: counted,
      exact: counted === devices,
      withinBound: first.peak <= BOUND_MIB && Math.max(second.peak, peakAfter) <= BOUND_MIB && errors === 0,
    },
    null,
    1,
  ));
} finally {
  await server.stop();
}
