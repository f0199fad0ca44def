/**
 * Cardinality without a cliff (issue 16, scaled; the 2 M-device size is
 * bench/cardinality.ts): 21,000 distinct devices against a series budget of
 * 5,000 on a real server. The first 5,000 series are aggregated per device,
 * the rest only in the all-device windows; the counters say so; a graceful
 * restart and a SIGKILL restart (whose replay folds 1,100 events) keep the
 * same budget; the stored rollups equal a recomputation from the raw events.
 * And the flush backlog bound: new devices faster than flushes get 503 with
 * Retry-After, never a lost acknowledged event.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectRollupsMatchEvents } from "../backend/testing/rollup-check.ts";
import { openStoreFile, type ServerProcess, startServer } from "./server-process.ts";

const KEY = "cardinality-test-key-0123456789abcdef";
const HOUR = 3_600_000;
const BUDGET = 5000;
const headers = { "x-api-key": KEY, "content-type": "application/json" };
const device = (i: number) => `dev-${String(i).padStart(5, "0")}`;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

async function post(server: ServerProcess, devices: number[]): Promise<void> {
  for (let i = 0; i < devices.length; i += 5000) {
    const body = devices.slice(i, i + 5000).map((d) => ({
      deviceId: device(d),
      eventType: "temp",
      value: d % 100,
      timestamp: Date.now(),
    }));
    const res = await fetch(`${server.url}/v1/events`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(202);
    expect((await res.json()).data.totals.accepted).toBe(body.length);
  }
}

/** The series-budget samples of /metrics. */
async function budgetMetrics(server: ServerProcess): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^pulsestream_stream_(tracked_series|series_over_budget\w*|max_series) (\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Events of `deviceId` (or all devices) since `from`, summed over hourly buckets, and the source. */
async function countOf(server: ServerProcess, from: number, deviceId?: string) {
  const params = new URLSearchParams({
    eventType: "temp",
    from: String(from - (from % HOUR)),
    to: String(Date.now() + 1),
    step: "1h",
    agg: "count",
  });
  if (deviceId) params.set("deviceId", deviceId);
  const res = await fetch(`${server.url}/v1/metrics?${params}`, { headers });
  expect(res.status).toBe(200);
  const body = await res.json();
  const counts: (number | null)[] = body.series[0]?.values.count ?? [];
  return { source: body.source as string, count: counts.reduce<number>((a, b) => a + (b ?? 0), 0) };
}

describe("series budget on a real server (deno)", () => {
  it(
    "aggregates 5,000 of 21,000 series per device, all of them in the all-device windows, across restarts",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "pulsestream-cardinality-"));
      const env = {
        DATABASE_URL: `file:${join(dir, "c.db")}`,
        BOOTSTRAP_API_KEY: KEY,
        LOG_LEVEL: "error",
        STREAM_MAX_SERIES: String(BUDGET),
        // No timer flush while the first two servers run: their state reaches the store only by the
        // graceful stop, and the SIGKILL leaves 1,100 events for the replay.
        ROLLUP_FLUSH_MS: "60000",
        RATE_LIMIT_EVENTS_PER_SEC: "1000000",
        RATE_LIMIT_BURST: "1000000",
      };
      const started = Date.now();
      let server = await startServer("deno", env);
      try {
        // 20,000 devices, then a second event for 100 devices in the budget and 100 over it.
        await post(server, range(0, 20_000));
        await post(server, [...range(0, 100), ...range(BUDGET, BUDGET + 100)]);
        const first = await budgetMetrics(server);
        expect(first).toMatchObject({
          tracked_series: BUDGET,
          max_series: BUDGET,
          series_over_budget_events_total: 15_100,
        });
        expect(Math.abs(first.series_over_budget - 15_000)).toBeLessThanOrEqual(15_000 * 0.04);
        expect(await countOf(server, started)).toEqual({ source: "rollup:3600000", count: 20_200 });
        expect(await countOf(server, started, device(1))).toEqual({ source: "rollup:3600000", count: 2 });
        expect(await countOf(server, started, device(BUDGET + 1))).toEqual({ source: "raw", count: 2 });
        expect(await server.kill("SIGTERM")).toBe(0);

        // Graceful restart: the budget comes back from the series catalogue, still full.
        server = await startServer("deno", env, { port: server.port });
        await post(server, [...range(20_000, 21_000), ...range(0, 100)]);
        expect(await budgetMetrics(server)).toMatchObject({
          tracked_series: BUDGET,
          series_over_budget_events_total: 1000,
        });
        await server.kill("SIGKILL");

        // The replay of the 1,100 unflushed events decides as the killed server did.
        server = await startServer("deno", { ...env, ROLLUP_FLUSH_MS: "200" }, { port: server.port });
        const health = await (await fetch(`${server.url}/health`)).json();
        expect(health.stream.replayedEvents).toBe(1100);
        expect(health.stream.series).toMatchObject({ trackedSeries: BUDGET, overBudgetEvents: 1000 });
        expect(await budgetMetrics(server)).toMatchObject({
          tracked_series: BUDGET,
          series_over_budget_events_total: 1000,
        });
        expect(await countOf(server, started)).toEqual({ source: "rollup:3600000", count: 21_300 });
        expect(await countOf(server, started, device(1))).toEqual({ source: "rollup:3600000", count: 3 });
        expect(await countOf(server, started, device(20_001))).toEqual({ source: "raw", count: 1 });
        await new Promise((r) => setTimeout(r, 1000)); // a timer flush writes the replayed deltas
        expect(await server.kill("SIGTERM")).toBe(0);

        const store = await openStoreFile(env.DATABASE_URL);
        try {
          // All-device buckets hold all 21,300 events; per-device ones the first 5,000 series only.
          expect(await expectRollupsMatchEvents(store, [60_000, HOUR], { maxSeries: BUDGET }))
            .toBeGreaterThanOrEqual(2 * (BUDGET + 1));
          expect((await store.listSeries({ devices: true, limit: 100_000 })).length).toBe(BUDGET);
        } finally {
          await store.close();
        }
      } finally {
        await server.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
      }
    },
    180_000,
  );

  it("answers 503 with Retry-After while new devices wait for a flush, and loses nothing it acknowledged", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-backlog-"));
    const env = {
      DATABASE_URL: `file:${join(dir, "b.db")}`,
      BOOTSTRAP_API_KEY: KEY,
      LOG_LEVEL: "warn",
      STREAM_MAX_UNFLUSHED_DEVICES: "100",
      ROLLUP_FLUSH_MS: "60000",
      RATE_LIMIT_EVENTS_PER_SEC: "1000000",
      RATE_LIMIT_BURST: "1000000",
    };
    const started = Date.now();
    const server = await startServer("deno", env);
    try {
      const send = (from: number) =>
        fetch(`${server.url}/v1/events`, {
          method: "POST",
          headers,
          body: JSON.stringify(
            range(from, from + 1000).map((d) => ({ deviceId: device(d), eventType: "temp", value: 1 })),
          ),
        });
      // 1,000 new devices pass (nothing waited before them); the next batch finds them unflushed.
      expect((await send(0)).status).toBe(202);
      const refused = await send(1000);
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("1");
      expect((await refused.json()).status).toBe("error");
      // The refusal started a flush: sent again after Retry-After, the batch is taken once it lands.
      let status = 503;
      for (let i = 0; i < 20 && status === 503; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        status = (await send(1000)).status;
      }
      expect(status).toBe(202);
      expect(server.stderr()).toContain("stream engine behind its rollup flushes");
      expect(await countOf(server, started)).toEqual({ source: "rollup:3600000", count: 2000 });
    } finally {
      await server.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
