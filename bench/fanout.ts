/**
 * Live fan-out and WebSocket ingestion, end to end on one machine.
 *
 *   deno run -A bench/fanout.ts fanout [subscribers=100] [eventsPerSec=10000] [seconds=15] [runs=3] [warmup=3]
 *   deno run -A bench/fanout.ts ws-ingest [connections=4] [batch=1000] [seconds=10] [runs=3]
 *
 * fanout: a fresh server per run; `subscribers` WebSocket clients on
 * /v1/stream (all events); a steady HTTP load of 10-event batches on an
 * evenly spaced schedule; 5 subscribers record, per delivered event, receipt
 * time − the event's `receivedAt` (the server's receive time; same machine
 * clock, ms resolution); the other subscribers read and drop the bytes.
 * The load runs `warmup` seconds before the measured `seconds`: events
 * received in the warm-up (a fresh process compiling its hot paths and
 * growing its heap and its SQLite files) are delivered but not counted; the
 * whole-run p99, warm-up included, is printed next to it. Prints p50/p99 over their deliveries, the server's
 * own receive → commit p99 (GET /health), and the CPU seconds the server and
 * this client used during the load.
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

/** Starts a role of bench/lib/fanout-worker.ts on its own thread. */
function worker(
  start: Record<string, unknown>,
): { reply: () => Promise<Record<string, number>>; worker: Worker } {
  const w = new Worker(new URL("./lib/fanout-worker.ts", import.meta.url).href, { type: "module" });
  w.postMessage(start);
  return {
    worker: w,
    reply: () => new Promise((resolve) => (w.onmessage = (m) => resolve(m.data))),
  };
}

/** CPU time (user + system) of a process so far, ms, from /proc; null where /proc is missing. */
function cpuMs(pid: number): number | null {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
  } catch {
    return null;
  }
}

async function fanout(subscribers: number, rate: number, seconds: number, warmup: number) {
  const server = await startBenchServer({ LIVE_MAX_SUBSCRIBERS_PER_KEY: String(subscribers + 10) });
  try {
    const wsUrl = `${server.url.replace("http", "ws")}/v1/stream?apiKey=${BENCH_KEY}`;
    // Latency is measured on `measured` subscribers in this thread, which does nothing else: each
    // frame is timestamped on receipt (Date.now(), the clock of `receivedAt`) and parsed after the
    // run. The other subscribers read and drop bytes, and they and the load generator run on
    // threads of their own (bench/lib/fanout-worker.ts), so that neither their frames nor the
    // HTTP responses queue in front of a measured frame.
    const measured = Math.min(5, subscribers);
    const received: [number, string][] = [];
    const sockets = await Promise.all(Array.from({ length: measured }, () => ws(wsUrl)));
    for (const s of sockets) s.onmessage = (m) => void received.push([Date.now(), m.data as string]);
    const silent = worker({ role: "subscribers", url: wsUrl, count: subscribers - measured });
    await silent.reply();
    const cpuBefore = [cpuMs(server.pid), cpuMs(Deno.pid)];
    const measureFrom = Date.now() + warmup * 1000;
    const load = worker({ role: "load", url: server.url, key: BENCH_KEY, rate, seconds: seconds + warmup });
    const { failed } = await load.reply();
    const cpuAfter = [cpuMs(server.pid), cpuMs(Deno.pid)];
    await new Promise((r) => setTimeout(r, 1000));
    const health = await (await fetch(`${server.url}/health`)).json();
    silent.worker.postMessage({ stop: true });
    const { minBytes, maxBytes } = await silent.reply();
    for (const s of sockets) s.close();
    silent.worker.terminate();
    load.worker.terminate();
    const latencies: number[] = [];
    const whole: number[] = [];
    let lagged = 0;
    for (const [at, text] of received) {
      for (const frame of [JSON.parse(text)].flat()) {
        if (frame.type === "lagged") lagged++;
        if (frame.type !== "event") continue;
        const receivedAt = Date.parse(frame.data.receivedAt);
        whole.push(at - receivedAt);
        if (receivedAt >= measureFrom) latencies.push(at - receivedAt);
      }
    }
    latencies.sort((a, b) => a - b);
    whole.sort((a, b) => a - b);
    const cpu = (i: number) =>
      cpuBefore[i] === null || cpuAfter[i] === null ? null : (cpuAfter[i]! - cpuBefore[i]!) / 1000;
    return {
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      wholeP99: quantile(whole, 0.99),
      delivered: latencies.length,
      /** Bytes each silent subscriber received (least and most): equal when none fell behind. */
      silentMiB: [minBytes / 2 ** 20, maxBytes / 2 ** 20],
      measured,
      lagged,
      failed,
      /** The server's own receive → in the engine (just after the commit, before publishing), ms. */
      commitP99: health.stream?.receiveToAggregateMs?.p99 as number | undefined,
      serverCpu: cpu(0),
      clientCpu: cpu(1),
      peak: peakRssMiB(server.pid),
    };
  } finally {
    await server.stop();
  }
}

async function wsIngest(connections: number, batch: number, seconds: number) {
  // One key for every connection: allow them all (the defaults are 2 per key, 8 in all).
  const server = await startBenchServer({
    WS_INGEST_MAX_CONNECTIONS_PER_KEY: String(connections),
    WS_INGEST_MAX_CONNECTIONS: String(Math.max(8, connections)),
  });
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
    const [subs = 100, rate = 10_000, seconds = 15, , warmup = 3] = nums;
    const x = await fanout(subs, rate, seconds, warmup);
    medians.push(x.p99);
    console.log(
      `run ${r}: ${subs} subscribers, ${rate} events/s for ${seconds} s after ${warmup} s of warm-up: ` +
        `receive → delivery p50 ${x.p50} ms p99 ${x.p99} ms (with the warm-up: p99 ${x.wholeP99} ms) over ${x.delivered} deliveries to ${x.measured} measured subscribers ` +
        `(the others ${
          x.silentMiB.map((m) => m.toFixed(1)).join("–")
        } MiB each), ${x.lagged} lagged messages, ${x.failed} failed requests | ` +
        `server receive → commit p99 (whole run) ${
          x.commitP99?.toFixed(1)
        } ms | CPU s server ${x.serverCpu} ` +
        `client ${x.clientCpu} | server peak RSS ${x.peak?.toFixed(0)} MiB`,
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
