/**
 * Live fan-out and WebSocket ingestion, end to end on one machine.
 *
 *   deno run -A bench/fanout.ts fanout [subscribers=100] [eventsPerSec=10000] [seconds=15] [runs=3]
 *   deno run -A bench/fanout.ts ws-ingest [connections=4] [batch=1000] [seconds=10] [runs=3]
 *
 * fanout: a fresh server per run; `subscribers` WebSocket clients on
 * /v1/stream (all events); a steady HTTP load of 10-event batches on an
 * evenly spaced schedule; each subscriber records, per delivered event, now −
 * the event's `receivedAt` (the server's receive time; same machine clock,
 * ms resolution). Prints p50/p99 over all deliveries and the delivered count.
 *
 * ws-ingest: `connections` WebSocket clients on /v1/ingest, each keeping 8
 * frames of `batch` events in flight (sending the next on each ack); prints
 * acknowledged events/s and the server's peak RSS.
 */
import { BENCH_KEY, peakRssMiB, quantile, startBenchServer } from "./lib/server.ts";

const [mode = "fanout", ...rest] = Deno.args;
const nums = rest.map(Number);

function ws(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error(`cannot open ${url}`));
  });
}

async function fanout(subscribers: number, rate: number, seconds: number) {
  const server = await startBenchServer({ LIVE_MAX_SUBSCRIBERS_PER_KEY: String(subscribers + 10) });
  try {
    const wsUrl = `${server.url.replace("http", "ws")}/v1/stream?apiKey=${BENCH_KEY}`;
    const latencies: number[] = [];
    let delivered = 0;
    let lagged = 0;
    const sockets = await Promise.all(Array.from({ length: subscribers }, () => ws(wsUrl)));
    // Latency is measured on `measured` subscribers; the others only count frames, so that parsing
    // a million events a second on the client's share of the two cores does not stand in for the
    // server's fan-out.
    const measured = Math.min(5, subscribers);
    let frames = 0;
    sockets.slice(measured).forEach((s) => (s.onmessage = () => void frames++));
    for (const s of sockets.slice(0, measured)) {
      s.onmessage = (m) => {
        const now = Date.now();
        for (const frame of [JSON.parse(m.data as string)].flat()) {
          if (frame.type === "lagged") lagged++;
          if (frame.type !== "event") continue;
          delivered++;
          latencies.push(now - Date.parse(frame.data.receivedAt));
        }
      };
    }
    const batch = 10;
    const interval = (batch / rate) * 1000;
    const start = performance.now();
    const pending = new Set<Promise<unknown>>();
    for (let i = 0; performance.now() - start < seconds * 1000; i++) {
      const wait = start + i * interval - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const body = JSON.stringify(
        Array.from(
          { length: batch },
          (_, k) => ({ deviceId: `dev-${(i + k) % 100}`, eventType: "t", value: k }),
        ),
      );
      const p: Promise<unknown> = fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: { "x-api-key": BENCH_KEY, "content-type": "application/json" },
        body,
      }).then((r) => r.arrayBuffer()).finally(() => pending.delete(p));
      pending.add(p);
    }
    await Promise.all(pending);
    await new Promise((r) => setTimeout(r, 1000));
    for (const s of sockets) s.close();
    latencies.sort((a, b) => a - b);
    return {
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      delivered,
      frames,
      measured,
      lagged,
      peak: peakRssMiB(server.pid),
    };
  } finally {
    await server.stop();
  }
}

async function wsIngest(connections: number, batch: number, seconds: number) {
  const server = await startBenchServer();
  try {
    const url = `${server.url.replace("http", "ws")}/v1/ingest?apiKey=${BENCH_KEY}`;
    let acked = 0;
    let errors = 0;
    const deadline = performance.now() + seconds * 1000;
    const start = performance.now();
    await Promise.all(Array.from({ length: connections }, async (_, c) => {
      const s = await ws(url);
      let seq = 0;
      const frame = () =>
        JSON.stringify({
          seq: seq++,
          events: Array.from(
            { length: batch },
            (_, k) => ({ deviceId: `c${c}-${k % 100}`, eventType: "t", value: k }),
          ),
        });
      await new Promise<void>((resolve) => {
        let inFlight = 0;
        s.onmessage = (m) => {
          const a = JSON.parse(m.data as string);
          inFlight--;
          if (a.type === "ack") acked += a.body.data.totals.accepted;
          else errors++;
          if (performance.now() < deadline) {
            s.send(frame());
            inFlight++;
          } else if (inFlight === 0) resolve();
        };
        for (; inFlight < 8; inFlight++) s.send(frame());
      });
      s.close();
    }));
    const elapsed = (performance.now() - start) / 1000;
    return { eventsPerSec: acked / elapsed, errors, peak: peakRssMiB(server.pid) };
  } finally {
    await server.stop();
  }
}

const runs = mode === "fanout" ? (nums[3] ?? 3) : (nums[3] ?? 3);
const medians: number[] = [];
for (let r = 1; r <= runs; r++) {
  if (mode === "fanout") {
    const [subs = 100, rate = 10_000, seconds = 15] = nums;
    const x = await fanout(subs, rate, seconds);
    medians.push(x.p99);
    console.log(
      `run ${r}: ${subs} subscribers, ${rate} events/s for ${seconds} s: receive → delivery p50 ${x.p50} ms ` +
        `p99 ${x.p99} ms over ${x.delivered} deliveries to ${x.measured} measured subscribers ` +
        `(${x.frames} frames to the others), ${x.lagged} lagged messages, server peak RSS ${
          x.peak?.toFixed(0)
        } MiB`,
    );
  } else {
    const [connections = 4, batch = 1000, seconds = 10] = nums;
    const x = await wsIngest(connections, batch, seconds);
    medians.push(x.eventsPerSec);
    console.log(
      `run ${r}: ${connections} connections × 8 frames of ${batch} in flight: ${
        Math.round(x.eventsPerSec)
      } events/s ` +
        `acked, ${x.errors} error frames, server peak RSS ${x.peak?.toFixed(0)} MiB`,
    );
  }
}
medians.sort((a, b) => a - b);
console.log(
  `median ${mode === "fanout" ? "p99" : "events/s"}: ${
    Math.round(medians[medians.length >> 1] * 10) / 10
  } | ` +
    `deno ${Deno.version.deno}`,
);
