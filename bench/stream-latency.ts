/**
 * Receive → live-aggregate latency at a steady event rate, end to end.
 *
 *   deno run -A bench/stream-latency.ts [eventsPerSec=10000] [batch=10] [seconds=20] [runs=3]
 *
 * Each run starts a fresh server (`deno run -A main.tsx`, temp SQLite file,
 * 127.0.0.1, free port), sends one batch of `batch` events every
 * batch/eventsPerSec seconds on an evenly spaced schedule (unlike autocannon's
 * overallRate, which sends each second's requests in a burst), then reads the
 * server's own histogram from GET /health (`stream.receiveToAggregateMs`: from
 * the moment the request was received to the event being in its open window)
 * and the client-side request latency. Stops the server with SIGTERM.
 */
const [rate = 10_000, batch = 10, seconds = 20, runs = 3] = Deno.args.map(Number);
import { BENCH_KEY as KEY, quantile, startBenchServer } from "./lib/server.ts";

async function run(): Promise<
  { server: Record<string, number>; client: { p50: number; p99: number }; sent: number }
> {
  const server = await startBenchServer();
  const url = server.url;
  try {
    const intervalMs = (batch / rate) * 1000;
    const latencies: number[] = [];
    const inFlight = new Set<Promise<void>>();
    const start = performance.now();
    let sent = 0;
    for (let i = 0; performance.now() - start < seconds * 1000; i++) {
      const due = start + i * intervalMs;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const now = Date.now();
      const body = JSON.stringify(
        Array.from({ length: batch }, (_, k) => ({
          deviceId: `dev-${(i * batch + k) % 100}`,
          eventType: k % 3 === 0 ? "pressure" : "temperature",
          value: (i + k) % 50,
          timestamp: now,
        })),
      );
      const t = performance.now();
      const p = fetch(`${url}/v1/events`, {
        method: "POST",
        headers: { "x-api-key": KEY, "content-type": "application/json" },
        body,
      }).then(async (res) => {
        await res.arrayBuffer();
        if (res.status === 202) latencies.push(performance.now() - t);
      }).finally(() => inFlight.delete(p));
      inFlight.add(p);
      sent += batch;
    }
    await Promise.all(inFlight);
    const health = await (await fetch(`${url}/health`)).json();
    latencies.sort((a, b) => a - b);
    const q = (x: number) => quantile(latencies, x);
    const none = { p50: NaN, p95: NaN, p99: NaN, count: 0 };
    return {
      server: health.stream?.receiveToAggregateMs ?? none,
      client: { p50: q(0.5), p99: q(0.99) },
      sent,
    };
  } finally {
    await server.stop();
  }
}

const p99s: number[] = [];
for (let r = 1; r <= runs; r++) {
  const { server, client, sent } = await run();
  p99s.push(server.p99);
  console.log(
    `run ${r}: sent ${sent} events in ${seconds} s | server receive → aggregate p50 ${
      server.p50.toFixed(1)
    } ms ` +
      `p95 ${server.p95.toFixed(1)} ms p99 ${server.p99.toFixed(1)} ms (${server.count} events) | ` +
      `client request p50 ${client.p50.toFixed(1)} ms p99 ${client.p99.toFixed(1)} ms`,
  );
}
p99s.sort((a, b) => a - b);
console.log(
  `median p99 receive → aggregate: ${
    p99s[p99s.length >> 1].toFixed(1)
  } ms | ${rate} events/s in batches of ${batch}, ` +
    `100 devices | deno ${Deno.version.deno}`,
);
