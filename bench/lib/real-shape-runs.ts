/**
 * One round of the real-shape benchmark against one system: PulseStream (a fresh `main.tsx` server
 * from bench/lib/server.ts) or a private InfluxDB 1.x (bench/lib/influxdb.ts), fed the same
 * pre-built bodies with `inflight` requests outstanding. Server cost comes from the server
 * process's own CPU time (/proc/<pid>/stat, all threads) and VmHWM, so it holds on a shared machine.
 */
import { BENCH_KEY, peakRssMiB, startBenchServer } from "./server.ts";
import { influxPoints, startInflux, treeBytes } from "./influxdb.ts";
import type { RealShapeData } from "./real-shape-data.ts";

/** What one round measured; `failures` lists every check that did not hold (empty: all held). */
export interface RoundResult {
  eventsPerSec: number;
  /** Server CPU seconds per million events sent, while loading and until stored/rolled up. */
  cpuPerMillion: number;
  peakRssMiB: number | null;
  bytesPerEvent: number;
  stored: number;
  statuses: Record<number, number>;
  failures: string[];
  note: string;
}

/** utime + stime of a process, seconds (all its threads). */
export function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Sends `bodies` with `inflight` requests outstanding; `onAnswer` sees each answer. */
async function sendAll(
  bodies: readonly string[],
  inflight: number,
  send: (body: string) => Promise<Response>,
  onAnswer: (r: Response) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      await onAnswer(await send(body));
    }
  };
  await Promise.all(Array.from({ length: inflight }, lane));
}

async function poll<T>(read: () => Promise<T>, done: (v: T) => boolean, ms: number): Promise<T> {
  const until = Date.now() + ms;
  let v = await read();
  while (!done(v) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
    v = await read();
  }
  return v;
}

export interface PulseRoundOptions {
  inflight: number;
  engine: boolean;
  /** Directory for `--cpu-prof` profiles of this round's server, or none. */
  profileDir?: string;
}

/** One PulseStream round on a fresh server and database. */
export async function pulseRound(data: RealShapeData, options: PulseRoundOptions): Promise<RoundResult> {
  const server = await startBenchServer(
    { STREAM_PROCESSING: options.engine ? "on" : "off", RETENTION_RAW_DAYS: "30" },
    { denoFlags: options.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`] : [] },
  );
  const headers = { "x-api-key": BENCH_KEY };
  const failures: string[] = [];
  try {
    const statuses: Record<number, number> = {};
    const resent: Record<number, number> = {};
    const totals = { accepted: 0, duplicate: 0, rejected: 0 };
    const cpu0 = cpuSeconds(server.pid);
    const t0 = performance.now();
    await sendAll(
      data.batches,
      options.inflight,
      async (body) => {
        // Overload answers 503/429 with Retry-After: resend the batch after it, as a client should.
        for (;;) {
          const r = await fetch(`${server.url}/v1/events`, {
            method: "POST",
            headers: { ...headers, "content-type": "application/json" },
            body,
          });
          const after = Number(r.headers.get("retry-after"));
          if ((r.status !== 503 && r.status !== 429) || !(after >= 0)) return r;
          resent[r.status] = (resent[r.status] ?? 0) + 1;
          await r.body?.cancel();
          await new Promise((done) => setTimeout(done, Math.max(after * 1000, 50)));
        }
      },
      async (r) => {
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        const answer = await r.json().catch(() => null);
        const t = answer?.data?.totals;
        if (r.status === 202 && t) {
          totals.accepted += t.accepted;
          totals.duplicate += t.duplicate;
          totals.rejected += t.rejected;
        }
      },
    );
    const elapsed = (performance.now() - t0) / 1000;
    const health = await poll(
      async () => await (await fetch(`${server.url}/health`, { headers })).json(),
      (h) => h.store?.events === totals.accepted,
      30_000,
    );
    const stored = Number(health.store?.events);
    let rolled = NaN;
    if (options.engine) {
      rolled = await poll(() => rollupCount(server.url, data), (n) => n === totals.accepted, 30_000);
    }
    const cpu = cpuSeconds(server.pid) - cpu0;
    const rss = peakRssMiB(server.pid);
    const all = treeBytes(server.dir);
    const disk = treeBytes(server.dir, "-shm");
    const wal = all - treeBytes(server.dir, "-wal");
    if (Object.keys(statuses).some((s) => s !== "202")) failures.push(`answers ${JSON.stringify(statuses)}`);
    if (totals.accepted !== data.expectAccepted) {
      failures.push(`acknowledged ${totals.accepted} new events, expected ${data.expectAccepted}`);
    }
    if (totals.rejected !== 0) failures.push(`${totals.rejected} events rejected`);
    if (stored !== totals.accepted) failures.push(`stored ${stored} != acknowledged ${totals.accepted}`);
    if (options.engine && rolled !== totals.accepted) {
      failures.push(`rollups count ${rolled} != acknowledged ${totals.accepted}`);
    }
    return {
      eventsPerSec: data.sent / elapsed,
      cpuPerMillion: cpu / (data.sent / 1e6),
      peakRssMiB: rss,
      bytesPerEvent: disk / stored,
      stored,
      statuses,
      failures,
      note: `acknowledged ${totals.accepted} new + ${totals.duplicate} duplicates, stored ${stored}` +
        `, of the bytes ${(wal / stored).toFixed(1)}/event WAL (not yet checkpointed)` +
        (options.engine ? `, rollups count ${rolled}` : ", rollups off") +
        (Object.keys(resent).length ? `, resent after ${JSON.stringify(resent)}` : ""),
    };
  } finally {
    await server.stop();
  }
}

/** Sum over event types of the 1 h count buckets covering the data's event-time range. */
async function rollupCount(url: string, data: RealShapeData): Promise<number> {
  const from = new Date(data.from - 3_600_000).toISOString();
  const to = new Date(Date.now() + 3_600_000).toISOString();
  let total = 0;
  for (const eventType of data.eventTypes) {
    const q = new URLSearchParams({ eventType, from, to, step: "1h", agg: "count" });
    const r = await fetch(`${url}/v1/metrics?${q}`, { headers: { "x-api-key": BENCH_KEY } });
    const body = await r.json();
    for (const s of body.series ?? []) for (const n of s.values?.count ?? []) total += n ?? 0;
  }
  return total;
}

/** One InfluxDB round on a fresh influxd: line protocol, ms precision, `inflight` writes outstanding. */
export async function influxRound(data: RealShapeData, options: { inflight: number }): Promise<RoundResult> {
  const influx = await startInflux("bench");
  const failures: string[] = [];
  try {
    const statuses: Record<number, number> = {};
    const cpu0 = cpuSeconds(influx.pid);
    const t0 = performance.now();
    await sendAll(
      data.writes,
      options.inflight,
      (body) => fetch(`${influx.url}/write?db=bench&precision=ms`, { method: "POST", body }),
      async (r) => {
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        await r.arrayBuffer();
      },
    );
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(influx.pid) - cpu0;
    const points = await influxPoints(influx.url, "bench", data.eventTypes);
    // Let the cache go cold (5 s in its config) and be snapshotted to TSM before sizing the files.
    await new Promise((r) => setTimeout(r, 8000));
    const bytes = influx.diskBytes();
    if (Object.keys(statuses).some((s) => s !== "204")) failures.push(`answers ${JSON.stringify(statuses)}`);
    // Resends share measurement, tags and time with their original, so they overwrite it.
    if (points !== data.distinct) {
      failures.push(`stored ${points} points, expected ${data.distinct}`);
    }
    return {
      eventsPerSec: data.sent / elapsed,
      cpuPerMillion: cpu / (data.sent / 1e6),
      peakRssMiB: peakRssMiB(influx.pid),
      bytesPerEvent: bytes / points,
      stored: points,
      statuses,
      failures,
      note: `${data.writes.length} writes, stored ${points} points`,
    };
  } finally {
    await influx.stop();
  }
}
