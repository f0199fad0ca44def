/**
 * Live subscribers under attack (issue 16), against a real server on this machine.
 *
 *   deno run -A bench/live-attack.ts stalled [subscribers=1000] [eventsPerSec=10000] [seconds=20] [keys=10]
 *   deno run -A bench/live-attack.ts replay [replays=100] [storedEvents=100000] [seconds=20]
 *
 * stalled: `subscribers` raw connections (half SSE, half WebSocket) across `keys` read keys
 * subscribe to every event and never read again; two readers (one SSE, one WebSocket) read
 * everything. Events arrive at `eventsPerSec` (batches of 100 every 10 ms) while a single-event
 * POST is timed every 20 ms. Prints the server's peak RSS, the single-event ingest p50/p99/max,
 * the subscribers the server closed (/health `live.closed`), how many stalled connections were
 * ended (read again after the load: SSE end of stream or a WebSocket close frame, within 30 s),
 * whether the readers got every accepted event, and the server's CPU seconds.
 *
 * replay: stores `storedEvents`, then opens `replays` SSE clients with `since=0` at once (each
 * replays up to LIVE_REPLAY_LIMIT, default 10,000 events, and reads all of it) while a
 * single-event POST is timed every 20 ms for `seconds`. Prints the ingest p50/p99/max, how long
 * the replays took, and the events they received.
 *
 * The run stops by itself; the server is stopped and its files removed at the end.
 */
import { BENCH_KEY, peakRssMiB, quantile, startBenchServer } from "./lib/server.ts";

const [mode = "stalled", ...rest] = Deno.args;
const nums = rest.map(Number);
/** `LIVE_ATTACK_CPU_PROF=<dir>`: the server runs with `--cpu-prof` and writes its profile there on stop. */
const profileDir = Deno.env.get("LIVE_ATTACK_CPU_PROF");
const serverOptions = profileDir ? { denoFlags: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] } : {};
const headers = (key: string) => ({ "x-api-key": key, "content-type": "application/json" });

function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** A process's user and system CPU seconds (utime, stime: clock ticks of 10 ms). */
function cpuTimes(pid: number): { user: number; system: number } {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

async function createReadKey(url: string, i: number): Promise<string> {
  const res = await fetch(`${url}/v1/admin/keys`, {
    method: "POST",
    headers: headers(BENCH_KEY),
    body: JSON.stringify({ name: `reader-${i}`, scopes: ["read"] }),
  });
  return (await res.json()).data.key;
}

/** Opens a subscription on a raw connection, reads the answer's first bytes, then stops reading. */
async function stalled(
  port: number,
  kind: "sse" | "ws",
  key: string,
): Promise<{ conn: Deno.Conn; first: Uint8Array }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const upgrade = kind === "ws"
    ? "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    : "";
  const path = kind === "sse" ? "/v1/stream/sse" : "/v1/stream";
  await conn.write(
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: x\r\nx-api-key: ${key}\r\n${upgrade}\r\n`),
  );
  const buf = new Uint8Array(4096);
  const n = await conn.read(buf);
  return { conn, first: buf.subarray(0, n ?? 0) };
}

/**
 * Reads a stalled connection again, discarding what was queued: true when the server ended it
 * (end of stream, a reset, or a WebSocket close frame) within `ms`.
 */
async function ended(conn: Deno.Conn, kind: "sse" | "ws", first: Uint8Array, ms: number): Promise<boolean> {
  let deadlineHit = false;
  const deadline = setTimeout(() => {
    deadlineHit = true;
    conn.close();
  }, ms);
  const buf = new Uint8Array(256 * 1024);
  // WebSocket frames after the 101 headers: skip payloads without keeping them.
  let pending = new Uint8Array(0);
  let skip = 0;
  const head = new TextDecoder().decode(first).indexOf("\r\n\r\n");
  const feed = (bytes: Uint8Array): boolean => {
    let data = pending.length ? new Uint8Array([...pending, ...bytes]) : bytes;
    for (;;) {
      if (skip > 0) {
        const n = Math.min(skip, data.length);
        skip -= n;
        data = data.subarray(n);
        if (skip > 0) return false;
      }
      if (data.length < 2) break;
      const opcode = data[0] & 0x0f;
      let len = data[1] & 0x7f;
      let hl = 2;
      if (len === 126) {
        if (data.length < 4) break;
        len = (data[2] << 8) | data[3];
        hl = 4;
      } else if (len === 127) {
        if (data.length < 10) break;
        len = Number(new DataView(data.buffer, data.byteOffset + 2, 8).getBigUint64(0));
        hl = 10;
      }
      if (opcode === 8) return true;
      if (data.length < hl) break;
      skip = len;
      data = data.subarray(hl);
    }
    pending = data.slice();
    return false;
  };
  try {
    if (kind === "ws" && feed(first.subarray(head + 4))) return true;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return true;
      if (kind === "ws" && feed(buf.subarray(0, n))) return true;
    }
  } catch {
    return !deadlineHit; // a reset by the server ends it too
  } finally {
    clearTimeout(deadline);
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/** Times one single-event POST every `everyMs` until `stop()`; returns the latencies. */
function probe(url: string, everyMs: number) {
  const latencies: number[] = [];
  const at: number[] = [];
  const statuses = new Map<number, number>();
  let n = 0;
  const timer = setInterval(async () => {
    const t = performance.now();
    const res = await fetch(`${url}/v1/events`, {
      method: "POST",
      headers: headers(BENCH_KEY),
      body: JSON.stringify({ deviceId: `probe-${n++ % 10}`, eventType: "probe", value: 1 }),
    });
    await res.arrayBuffer();
    latencies.push(performance.now() - t);
    at.push(t);
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const sorted = [...latencies].sort((a, b) => a - b);
      const half = at.length ? (at[0] + at[at.length - 1]) / 2 : 0;
      const late = latencies.filter((_, i) => at[i] >= half).sort((a, b) => a - b);
      // The slowest probes with when they were sent (s after the first), to place a block in time.
      const slowest = latencies.map((ms, i) => [+((at[i] - at[0]) / 1000).toFixed(2), Math.round(ms)])
        .sort((a, b) => b[1] - a[1]).slice(0, 5);
      return {
        slowest,
        secondHalfP99: +quantile(late, 0.99).toFixed(1),
        n: sorted.length,
        p50: quantile(sorted, 0.5),
        p99: quantile(sorted, 0.99),
        max: sorted.at(-1) ?? 0,
        statuses: Object.fromEntries(statuses),
      };
    },
  };
}

/** Counts `event: event` frames of an SSE stream read with fetch (every byte is read). */
function sseCounter(url: string, key: string) {
  let events = 0;
  const controller = new AbortController();
  const marker = "\nevent: event\n";
  const done = (async () => {
    const res = await fetch(url, { headers: { "x-api-key": key }, signal: controller.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let carry = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const text = carry + value;
      for (let i = text.indexOf(marker); i >= 0; i = text.indexOf(marker, i + 1)) events++;
      carry = text.slice(-marker.length);
    }
  })().catch(() => {});
  return {
    get events() {
      return events;
    },
    stop() {
      controller.abort();
      return done;
    },
  };
}

/** Stops the server, killing it when a shutdown waits on connections the runtime cannot drop. */
async function stopWithin(server: { pid: number; stop(): Promise<void> }, ms: number): Promise<void> {
  const timer = setTimeout(() => Deno.kill(server.pid, "SIGKILL"), ms);
  await server.stop();
  clearTimeout(timer);
}

async function stalledMode() {
  const [subscribers = 1000, perSec = 10_000, seconds = 20, keyCount = 10] = nums;
  const server = await startBenchServer({ LIVE_MAX_SUBSCRIBERS: String(subscribers + 2) }, serverOptions);
  const port = Number(new URL(server.url).port);
  try {
    const keys = await Promise.all(Array.from({ length: keyCount }, (_, i) => createReadKey(server.url, i)));
    const conns: { conn: Deno.Conn; first: Uint8Array; kind: "sse" | "ws" }[] = [];
    for (let i = 0; i < subscribers; i++) {
      const kind = i % 2 === 0 ? "sse" : "ws";
      conns.push({ ...(await stalled(port, kind, keys[i % keyCount])), kind });
    }
    console.error(`${conns.length} stalled subscribers open`);
    const refused = conns.filter((c) =>
      !/^HTTP\/1\.1 (200|101)/.test(new TextDecoder().decode(c.first))
    ).length;
    const readerKey = await createReadKey(server.url, keyCount); // the stalled ones fill their keys' caps
    const sseReader = sseCounter(`${server.url}/v1/stream/sse`, readerKey);
    let wsEvents = 0;
    const ws = new WebSocket(`${server.url.replace("http", "ws")}/v1/stream?apiKey=${readerKey}`);
    ws.onmessage = (m) => {
      for (const x of [JSON.parse(m.data)].flat()) if (x.type === "event") wsEvents++;
    };
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("the reading WebSocket was refused"));
    });
    const rssBefore = peakRssMiB(server.pid);
    const cpu0 = cpuSeconds(server.pid);
    const times0 = cpuTimes(server.pid);
    console.error(`${new Date().toISOString()} load starts`);
    const timing = probe(server.url, 20);
    let accepted = 0;
    let batchErrors = 0;
    let inFlight = 0;
    let skipped = 0;
    const batch = Array.from({ length: 100 }, (_, i) => ({
      deviceId: `dev-${i % 50}`,
      eventType: "temperature",
      value: 21.5,
      metadata: { site: "berlin", floor: i % 4 },
    }));
    const body = JSON.stringify(batch);
    const loadEnd = performance.now() + seconds * 1000;
    let due = 0; // batches of 100 owed: perSec / 100 per second, scheduled every 10 ms
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (performance.now() >= loadEnd) {
          clearInterval(timer);
          resolve();
          return;
        }
        due += perSec / 100 / 100;
        for (; due >= 1; due--) {
          if (inFlight >= 64) {
            skipped++;
            continue;
          }
          inFlight++;
          fetch(`${server.url}/v1/events`, { method: "POST", headers: headers(BENCH_KEY), body })
            .then(async (res) => {
              const answer = await res.json();
              if (res.status === 202) accepted += answer.data.totals.accepted;
              else batchErrors++;
            })
            .catch(() => batchErrors++)
            .finally(() => inFlight--);
        }
      }, 10);
    });
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    const ingest = timing.stop();
    console.error("load done");
    await new Promise((r) => setTimeout(r, 2000)); // readers catch up
    const cpu = cpuSeconds(server.pid) - cpu0;
    const times1 = cpuTimes(server.pid);
    const health = await (await fetch(`${server.url}/health`)).json();
    const peak = peakRssMiB(server.pid);
    console.error("reading the stalled connections again");
    const endedCount = (await Promise.all(conns.map((c) => ended(c.conn, c.kind, c.first, 30_000))))
      .filter(Boolean).length;
    const probes = ingest.n;
    console.log(JSON.stringify({
      mode: "stalled",
      subscribers,
      keys: keyCount,
      refused,
      eventsPerSecTarget: perSec,
      seconds,
      batchesSkippedClientSide: skipped,
      batchErrors,
      acceptedBatchEvents: accepted,
      readers: { sse: sseReader.events, ws: wsEvents, expected: accepted + probes },
      ingestSingleMs: {
        n: probes,
        p50: +ingest.p50.toFixed(1),
        p99: +ingest.p99.toFixed(1),
        max: +ingest.max.toFixed(1),
        secondHalfP99: ingest.secondHalfP99,
        slowest: ingest.slowest,
      },
      ingestStatuses: ingest.statuses,
      rssMiB: { before: rssBefore, peak },
      serverCpuSeconds: +cpu.toFixed(1),
      serverSystemCpuSeconds: +(times1.system - times0.system).toFixed(1),
      closedByServer: health.live.closed,
      stillSubscribed: health.live.subscribers,
      stalledConnectionsEnded: endedCount,
    }));
    ws.close();
    void sseReader.stop();
  } finally {
    await stopWithin(server, 10_000);
  }
}

async function replayMode() {
  const [replays = 100, stored = 100_000, seconds = 20] = nums;
  const server = await startBenchServer({
    LIVE_MAX_SUBSCRIBERS_PER_KEY: String(replays + 10),
    // Comparisons: a smaller per-subscriber bound, or no replay at all (LIVE_REPLAY_LIMIT=0).
    ...Object.fromEntries(
      ["LIVE_MAX_BUFFERED_BYTES", "LIVE_REPLAY_LIMIT"].flatMap((
        k,
      ) => (Deno.env.get(k) ? [[k, Deno.env.get(k)!]] : [])),
    ),
  }, serverOptions);
  try {
    const batch = (b: number) =>
      JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({
        deviceId: `dev-${i % 100}`,
        eventType: "temperature",
        value: b + i / 1000,
        metadata: { site: "paris" },
      })));
    for (let b = 0; b < stored / 1000; b++) {
      const res = await fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: headers(BENCH_KEY),
        body: batch(b),
      });
      await res.arrayBuffer();
    }
    const key = await createReadKey(server.url, 0);
    await new Promise((r) => setTimeout(r, 3000)); // the stored events' rollup flush settles
    const rssBeforeReplays = peakRssMiB(server.pid);
    const timing = probe(server.url, 20);
    await new Promise((r) => setTimeout(r, 1000)); // a baseline second
    const started = performance.now();
    console.error(`${new Date().toISOString()} ${replays} replays start`);
    const readers = Array.from(
      { length: replays },
      () => sseCounter(`${server.url}/v1/stream/sse?since=0`, key),
    );
    const limit = 10_000;
    let allDoneMs: number | null = null;
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      if (allDoneMs === null && replays > 0 && readers.every((r) => r.events >= Math.min(limit, stored))) {
        allDoneMs = performance.now() - started;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const ingest = timing.stop();
    const received = readers.reduce((n, r) => n + r.events, 0);
    console.log(JSON.stringify({
      mode: "replay",
      replays,
      storedEvents: stored,
      seconds,
      replaysCompleteMs: allDoneMs === null ? null : Math.round(allDoneMs),
      eventsReceived: received,
      ingestSingleMs: {
        n: ingest.n,
        p50: +ingest.p50.toFixed(1),
        p99: +ingest.p99.toFixed(1),
        max: +ingest.max.toFixed(1),
        secondHalfP99: ingest.secondHalfP99,
        slowest: ingest.slowest,
      },
      ingestStatuses: ingest.statuses,
      rssMiB: { peakBeforeReplays: rssBeforeReplays, peak: peakRssMiB(server.pid) },
    }));
    for (const r of readers) void r.stop();
  } finally {
    await stopWithin(server, 10_000);
  }
}

if (mode === "stalled") await stalledMode();
else if (mode === "replay") await replayMode();
else console.error(`unknown mode ${mode}: stalled | replay`);
Deno.exit(0); // open client sockets of the attack must not keep the run alive
