/**
 * Soak: a long, steady mixed load on one fresh server, to show that memory stays flat and nothing
 * fails over minutes (issue 16's soak target).
 *
 *   deno run -A bench/soak.ts [seconds=600] [eventsPerSec=10000] [subscribers=100] [devices=1000000]
 *
 * For `seconds`: 10-event batches on an evenly spaced schedule at `eventsPerSec`, device ids
 * cycling over `devices` (so 10 minutes at 10 k/s give each of 1 M devices about six events);
 * `subscribers` WebSocket clients on /v1/stream that read and drop every byte
 * (bench/lib/fanout-worker.ts, on their own thread, as the load generator); and one metrics query a
 * second (the last hour per minute: count, avg, p95 over all devices). A 429/503 is sent again
 * after its Retry-After, as a client should (every answer is counted). Every 10 s it prints the
 * server's RSS, CPU seconds so far and the answers so far; at the end, the RSS of each quarter of
 * the run (flat: the last quarter no higher than the second, within noise), every non-202 ingest
 * answer and non-200 query answer by status, and two exactness checks: the store holds exactly
 * the events acknowledged, and the rollups count exactly those events (sum of 1 h buckets).
 * Exits 1 when an ingest or query failed or a check does not hold.
 */
import { BENCH_KEY, startBenchServer } from "./lib/server.ts";

const [seconds = 600, rate = 10_000, subscribers = 100, devices = 1_000_000] = Deno.args.map(Number);

function rssMiB(pid: number): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) / 1024 : NaN;
}

function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function worker(start: Record<string, unknown>) {
  const w = new Worker(new URL("./lib/fanout-worker.ts", import.meta.url).href, { type: "module" });
  w.postMessage(start);
  return {
    worker: w,
    reply: () => new Promise<Record<string, unknown>>((resolve) => (w.onmessage = (m) => resolve(m.data))),
  };
}

const server = await startBenchServer({
  LIVE_MAX_SUBSCRIBERS_PER_KEY: String(subscribers + 10),
  LIVE_MAX_SUBSCRIBERS: String(subscribers + 10),
  // The silent subscribers do not answer pings; keep them past the run.
  LIVE_HEARTBEAT_MS: String(Math.max(15_000, seconds * 1000)),
});
let exitCode = 0;
try {
  const headers = { "x-api-key": BENCH_KEY };
  const silent = worker({
    role: "subscribers",
    url: `${server.url.replace("http", "ws")}/v1/stream?apiKey=${BENCH_KEY}`,
    count: subscribers,
  });
  await silent.reply();
  const startedAt = Date.now();
  const cpuStart = cpuSeconds(server.pid);
  const load = worker({ role: "load", url: server.url, key: BENCH_KEY, rate, seconds, devices, retry: true });
  const loadDone = load.reply();
  const rss: number[] = [];
  const queryStatuses: Record<number, number> = {};
  const queryMs: number[] = [];
  let finished = false;
  void loadDone.then(() => (finished = true));
  for (let tick = 1; !finished; tick++) {
    await Promise.race([new Promise((r) => setTimeout(r, 1000)), loadDone]);
    if (finished) break;
    const t0 = performance.now();
    const status = await fetch(
      `${server.url}/v1/metrics?eventType=t&from=now-1h&step=1m&agg=count,avg,p95`,
      { headers },
    ).then(async (r) => (await r.arrayBuffer(), r.status)).catch(() => 0);
    queryMs.push(performance.now() - t0);
    queryStatuses[status] = (queryStatuses[status] ?? 0) + 1;
    if (tick % 10 === 0) {
      rss.push(rssMiB(server.pid));
      console.log(
        `${tick} s: RSS ${rss.at(-1)!.toFixed(0)} MiB, server CPU ${
          (cpuSeconds(server.pid) - cpuStart).toFixed(1)
        } s, queries ${JSON.stringify(queryStatuses)}`,
      );
    }
  }
  const { accepted, statuses } = await loadDone as { accepted: number; statuses: Record<number, number> };
  const elapsed = (Date.now() - startedAt) / 1000;
  const cpu = cpuSeconds(server.pid) - cpuStart;
  silent.worker.postMessage({ stop: true });
  const { minBytes, maxBytes } = await silent.reply() as { minBytes: number; maxBytes: number };
  silent.worker.terminate();
  load.worker.terminate();
  // Let the last rollup flush (ROLLUP_FLUSH_MS, 1 s) and closes (lateness 5 s) happen.
  await new Promise((r) => setTimeout(r, 8000));
  const health = await (await fetch(`${server.url}/health`, { headers })).json();
  const rollup = await (await fetch(
    `${server.url}/v1/metrics?eventType=t&from=now-2d&step=1h&agg=count`,
    { headers },
  )).json();
  const rolled = (rollup.series as { values: { count: (number | null)[] } }[])
    .flatMap((s) => s.values.count).reduce((sum: number, n) => sum + (n ?? 0), 0);
  const quarter = (q: number) => {
    const part = rss.slice(Math.floor((q * rss.length) / 4), Math.floor(((q + 1) * rss.length) / 4));
    return part.length ? Math.max(...part).toFixed(0) : "–";
  };
  queryMs.sort((a, b) => a - b);
  const { failed } = await loadDone as { failed: number };
  const queryFailures = Object.entries(queryStatuses).filter(([s]) => s !== "200");
  console.log(
    `\n${seconds} s at ${rate} events/s over ${devices} devices, ${subscribers} subscribers, one query/s:\n` +
      `  acknowledged ${accepted} events (${(accepted / elapsed).toFixed(0)}/s), ingest answers ${
        JSON.stringify(statuses)
      }\n` +
      `  server CPU ${cpu.toFixed(1)} s = ${(cpu / (accepted / 1e6)).toFixed(1)} CPU-s per million events\n` +
      `  peak RSS per quarter (MiB): ${[0, 1, 2, 3].map(quarter).join(" / ")}\n` +
      `  queries: ${JSON.stringify(queryStatuses)}, median ${
        queryMs[queryMs.length >> 1]?.toFixed(1)
      } ms, p99 ${queryMs[Math.floor(queryMs.length * 0.99)]?.toFixed(1)} ms\n` +
      `  subscribers received ${(minBytes / 2 ** 20).toFixed(0)}–${
        (maxBytes / 2 ** 20).toFixed(0)
      } MiB each\n` +
      `  stored ${health.store?.events} events, rollups count ${rolled}`,
  );
  if (failed || queryFailures.length) {
    console.log(`FAIL: ${failed} ingest requests never accepted, queries ${JSON.stringify(queryFailures)}`);
    exitCode = 1;
  }
  if (health.store?.events !== accepted || rolled !== accepted) {
    console.log(`FAIL: stored ${health.store?.events} / rolled up ${rolled} != acknowledged ${accepted}`);
    exitCode = 1;
  }
} finally {
  await server.stop();
}
Deno.exit(exitCode);
