/**
 * The reader worker (Deno): metric series with sketches and exports run on a
 * worker thread with its own connection, and answer byte for byte what the same
 * reads give on the ingest thread (`READ_WORKER=off`) — with the engine's
 * unflushed deltas included, while rollup flushes keep landing, and with the
 * same 400 for a query over the limits. A real server process on a real file.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type ServerProcess, startServer } from "./server-process.ts";

const ADMIN = "read-worker-test-admin-key-0123456789";
const DEVICES = 20;
const MINUTE = 60_000;
const dir = mkdtempSync(join(tmpdir(), "pulsestream-read-worker-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = (worker: "on" | "off", flushMs: number) => ({
  DATABASE_URL: `file:${join(dir, "w.db")}`,
  BOOTSTRAP_API_KEY: ADMIN,
  LOG_LEVEL: "warn",
  READ_WORKER: worker,
  ROLLUP_FLUSH_MS: String(flushMs),
  READ_RATE_PER_SEC: "10000",
  READ_RATE_BURST: "10000",
  RATE_LIMIT_EVENTS_PER_SEC: "1000000",
  RATE_LIMIT_BURST: "1000000",
});

const get = async (server: ServerProcess, path: string) => {
  const res = await fetch(`${server.url}${path}`, { headers: { "x-api-key": ADMIN } });
  return { status: res.status, text: await res.text(), type: res.headers.get("content-type") };
};

const post = async (server: ServerProcess, events: unknown[]) => {
  const res = await fetch(`${server.url}/v1/events`, {
    method: "POST",
    headers: { "x-api-key": ADMIN, "content-type": "application/json" },
    body: JSON.stringify(events),
  });
  expect(res.status).toBe(202);
  await res.body?.cancel();
};

const jobs = async (server: ServerProcess) => {
  const text = (await get(server, "/metrics")).text;
  const count = (kind: string) =>
    Number(
      new RegExp(`^pulsestream_read_worker_jobs_total\\{kind="${kind}"\\} (\\d+)`, "m").exec(text)?.[1] ??
        NaN,
    );
  return { metrics: count("metrics"), export: count("export"), eventsAfter: count("eventsAfter") };
};

/** Ids of the first `n` events an SSE subscription with `since=0` replays, checked to come in seq order. */
const replayIds = async (server: ServerProcess, n: number): Promise<string[]> => {
  const abort = new AbortController();
  const res = await fetch(`${server.url}/v1/stream/sse?since=0`, {
    headers: { "x-api-key": ADMIN },
    signal: abort.signal,
  });
  expect(res.status).toBe(200);
  const ids: string[] = [];
  const seqs: number[] = [];
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    text += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const frame = text.slice(0, end);
      text = text.slice(end + 2);
      if (!/^event: event$/m.test(frame)) continue;
      const data = JSON.parse(/^data: (.*)$/m.exec(frame)![1]) as { id: string; seq: number };
      ids.push(data.id);
      seqs.push(data.seq);
    }
    if (ids.length >= n) break;
  }
  abort.abort();
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  return ids;
};

describe("reader worker (deno)", () => {
  it(
    "answers sketch queries and exports as the ingest thread does, unflushed deltas and flushes included",
    async () => {
      // Three hours of minutes, on whole minutes so both servers see the same buckets.
      const end = Math.floor(Date.now() / MINUTE) * MINUTE - MINUTE;
      const start = end - 180 * MINUTE;
      const batch = (round: number) =>
        Array.from({ length: 180 * DEVICES / 4 }, (_, i) => ({
          id: `r${round}-${i}`,
          deviceId: `dev-${String(i % DEVICES).padStart(2, "0")}`,
          eventType: "temp",
          value: (i * 37 + round * 11) % 101,
          timestamp: start + ((i * 4 + round) % 180) * MINUTE + (i % 60) * 500,
          metadata: { site: i % 3 === 0 ? "north" : "south" },
        }));
      const series =
        `/v1/metrics?eventType=temp&from=${start}&to=${end}&step=1m&groupBy=deviceId&agg=count,avg,p50,p95,max`;
      const merged = `/v1/metrics?eventType=temp&from=${start}&to=${end}&step=10m&agg=count,p99,distinct`;
      const raw =
        `/v1/metrics?eventType=temp&from=${start}&to=${end}&step=5m&metadata.site=north&agg=count,p90`;
      const ndjson = `/v1/export?source=events&format=ndjson&from=${start}&to=${end}`;
      const csv = `/v1/export?source=rollups&format=csv&resolution=60000&from=${start}&to=${end}`;
      const tooBig = `/v1/metrics?eventType=temp&from=${start - 400 * 86_400_000}&to=${end}&step=1s&agg=p95`;

      // A flush a second: the first two rounds are stored before the queries, the last two are
      // still the engine's unflushed deltas when they run.
      const worker = await startServer("deno", env("on", 1_000));
      let onWorker: Awaited<ReturnType<typeof get>>[];
      let replayed: string[] = [];
      try {
        await post(worker, batch(0));
        await post(worker, batch(1));
        await new Promise((r) => setTimeout(r, 2_500));
        await post(worker, batch(2));
        await post(worker, batch(3));
        const before = await jobs(worker);
        onWorker = [];
        for (const path of [series, merged, raw, ndjson]) onWorker.push(await get(worker, path));
        // A rollup export reads stored buckets only: asked once the last rounds are flushed.
        await new Promise((r) => setTimeout(r, 2_500));
        for (const path of [csv, tooBig]) onWorker.push(await get(worker, path));
        const after = await jobs(worker);
        // Every one of them went to the worker: four metric queries (one refused) and two exports.
        expect(after.metrics - before.metrics).toBe(4);
        expect(after.export - before.export).toBe(2);
        // A live replay from the start reads its pages there too: every stored event, in seq order.
        replayed = await replayIds(worker, 4 * 180 * DEVICES / 4);
        expect((await jobs(worker)).eventsAfter).toBeGreaterThanOrEqual(Math.ceil(replayed.length / 200));
      } finally {
        expect(await worker.kill("SIGTERM")).toBe(0);
      }

      // The same file on the ingest thread (the stopping server flushed everything).
      const local = await startServer("deno", env("off", 1_000));
      try {
        const answers = [];
        for (const path of [series, merged, raw, ndjson, csv, tooBig]) answers.push(await get(local, path));
        expect((await jobs(local)).metrics).toBeNaN(); // no worker, no family
        for (let i = 0; i < answers.length; i++) {
          expect(onWorker[i].status).toBe(answers[i].status);
          expect(onWorker[i].type).toBe(answers[i].type);
          expect(onWorker[i].text).toBe(answers[i].text);
        }
      } finally {
        await local.kill("SIGTERM");
      }
      expect(onWorker[0].status).toBe(200);
      const first = JSON.parse(onWorker[0].text);
      expect(first.series).toHaveLength(DEVICES);
      // Every event is counted once: 4 rounds of 900.
      const total = first.series.reduce(
        (sum: number, s: { values: { count: (number | null)[] } }) =>
          sum + s.values.count.reduce((a: number, c) => a + (c ?? 0), 0),
        0,
      );
      expect(total).toBe(4 * 180 * DEVICES / 4);
      expect(onWorker[3].text.trim().split("\n")).toHaveLength(4 * 180 * DEVICES / 4);
      expect(onWorker[5].status).toBe(400);
      const stored = onWorker[3].text.trim().split("\n").map((line) =>
        (JSON.parse(line) as { id: string }).id
      );
      expect(replayed).toHaveLength(stored.length);
      expect(new Set(replayed)).toEqual(new Set(stored));
    },
    120_000,
  );

  it("counts every event exactly once while flushes land between the worker's reads", async () => {
    const server = await startServer("deno", { ...env("on", 50), DATABASE_URL: `file:${join(dir, "f.db")}` });
    try {
      const end = Math.floor(Date.now() / MINUTE) * MINUTE + MINUTE;
      const start = end - 60 * MINUTE;
      let sent = 0;
      for (let round = 0; round < 30; round++) {
        const events = Array.from({ length: 200 }, (_, i) => ({
          deviceId: `dev-${i % 50}`,
          eventType: "load",
          value: i,
          timestamp: start + ((i * 7 + round * 13) % 59) * MINUTE,
        }));
        await post(server, events);
        sent += events.length;
        // Asked right after the commit: the events are unflushed, or in a flush in flight, or stored.
        const answer = await get(
          server,
          `/v1/metrics?eventType=load&from=${start}&to=${end}&step=1m&agg=count,p95`,
        );
        expect(answer.status).toBe(200);
        const counts: (number | null)[] = JSON.parse(answer.text).series[0].values.count;
        expect(counts.reduce((a: number, c) => a + (c ?? 0), 0)).toBe(sent);
      }
      expect((await jobs(server)).metrics).toBe(30);
    } finally {
      await server.kill("SIGTERM");
    }
  }, 120_000);
});
