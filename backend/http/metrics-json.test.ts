/**
 * The streamed JSON answer of `GET /v1/metrics` against the serialisation it
 * replaces (`c.json` of the answer with nullable arrays): the same bytes, for
 * built answers with every awkward value and for real answers of the app.
 */
import { describe, expect, it } from "vitest";
import type { MetricsColumnSeries, MetricsColumnsResult } from "../metrics/metrics-types.ts";
import { MetricsService } from "../metrics/metrics-query.ts";
import { toNullableColumn } from "../metrics/scalar-columns.ts";
import { type AppFixture, FakeClock, withApp } from "../testing/with-app.ts";
import {
  metricsAnswerChunks,
  type MetricsAnswerHead,
  metricsAnswerObject,
  metricsAnswerStream,
} from "./metrics-json.ts";

const T = Date.parse("2026-11-22T12:00:00.000Z");
const M = 60_000;

const HEAD: MetricsAnswerHead = {
  eventType: "température",
  from: new Date(T).toISOString(),
  to: new Date(T + 3 * M).toISOString(),
  step: M,
  window: M,
  source: "rollup:60000",
  aggregates: ["count", "avg", "min"],
  fill: "null",
};

/** A series of fixed columns. */
const series = (deviceId: string | null, values: Record<string, Float64Array>): MetricsColumnSeries => ({
  deviceId,
  column: (name) => values[name],
});

const text = (chunks: Iterable<Uint8Array>) => {
  const decoder = new TextDecoder();
  let out = "";
  for (const c of chunks) out += decoder.decode(c, { stream: true });
  return out + decoder.decode();
};

describe("metrics answer JSON", () => {
  it("is byte for byte JSON.stringify of the answer with nullable arrays, and releases it once written", async () => {
    let released = 0;
    const result: MetricsColumnsResult = {
      source: 60000,
      timestamps: [T, T + M, T + 2 * M],
      series: [
        series('dev-α "quoted" 🌡️', {
          count: Float64Array.of(4, 0, NaN),
          avg: Float64Array.of(1 / 3, -0, Infinity),
          min: Float64Array.of(-Infinity, 15.299999999999999, 1e-7),
        }),
        series(null, { count: Float64Array.of(1, 2, 3), avg: new Float64Array(3), min: new Float64Array(3) }),
      ],
      truncated: true,
      release: () => released++,
    };
    const reference = JSON.stringify(metricsAnswerObject(HEAD, result));
    expect(text(metricsAnswerChunks(HEAD, result))).toBe(reference);
    expect(released).toBe(1);
    expect(await new Response(metricsAnswerStream(HEAD, result)).text()).toBe(reference);
    expect(released).toBe(2);
    // A reader that gives up after the first chunk releases it too.
    const reader = metricsAnswerStream(HEAD, result).getReader();
    await reader.read();
    await reader.cancel();
    expect(released).toBe(3);
    expect(JSON.parse(reference).series[0].values).toEqual({
      count: [4, 0, null],
      avg: [1 / 3, 0, null],
      min: [null, 15.299999999999999, 1e-7],
    });
  });

  it("writes an answer without series or points", () => {
    const result: MetricsColumnsResult = {
      source: "raw",
      timestamps: [],
      series: [],
      truncated: false,
      release: () => {},
    };
    expect(text(metricsAnswerChunks({ ...HEAD, source: "raw" }, result))).toBe(
      JSON.stringify({ ...HEAD, source: "raw", timestamps: [], series: [], truncated: false }),
    );
  });

  it("streams a large answer in chunks whose text is the reference", () => {
    const points = 1440;
    const timestamps = Array.from({ length: points }, (_, i) => T + i * M);
    const many = Array.from({ length: 40 }, (_, d) => {
      const count = new Float64Array(points).map((_, i) => (i + d) % 9);
      const avg = count.map((c, i) => (c === 0 ? NaN : (15 + ((i * 7 + d) % 200) / 10) * 7 / 3));
      const min = count.map((c, i) => (c === 0 ? NaN : 15 + ((i + d) % 200) / 10));
      return series(`device-${d}`, { count, avg, min });
    });
    const result: MetricsColumnsResult = {
      source: 60000,
      timestamps,
      series: many,
      truncated: false,
      release: () => {},
    };
    const chunks = [...metricsAnswerChunks(HEAD, result)];
    expect(chunks.length).toBeGreaterThan(2);
    expect(text(chunks)).toBe(JSON.stringify(metricsAnswerObject(HEAD, result)));
  });
});

describe("GET /v1/metrics answer", () => {
  /** Readings of 3 devices over 3 hours: counts, averages of 16-17 digits, gaps. */
  const events = Array.from({ length: 600 }, (_, i) => ({
    id: `e${i}`,
    deviceId: `dev-${i % 3}`,
    eventType: "temp",
    value: i % 7 === 0 ? undefined : 15 + ((i * 37) % 200) / 10,
    timestamp: T + Math.floor(i / 3) * 53_000 + (i % 3) * 1000,
  }));

  async function withReadings(fn: (f: AppFixture, service: MetricsService) => Promise<void>) {
    await withApp(async (f) => {
      const res = await f.request("/v1/events", { method: "POST", body: JSON.stringify(events) });
      expect(res.status).toBe(202);
      f.server.stream!.tick();
      await f.server.stream!.flush();
      const service = new MetricsService(f.server.store, f.server.stream!, [M, 3_600_000], f.config.metrics);
      await fn(f, service);
    }, { clock: new FakeClock(T + 4 * 3_600_000) });
  }

  it.each([
    ["step=1m&agg=count,avg,min,max,last,sum&groupBy=deviceId", 60000],
    ["step=5m&agg=count,avg&fill=previous", 60000],
    ["step=1m&window=10m&agg=avg,max&groupBy=deviceId&fill=zero", 60000],
    ["step=1m&agg=p50,distinct,avg", 60000],
    ["step=10s&agg=count,avg&groupBy=deviceId", "raw"],
  ])("answers %s with the text c.json gave for the service's answer", async (query, source) => {
    await withReadings(async (f, service) => {
      const params = new URLSearchParams(query);
      const res = await f.request(`/v1/metrics?eventType=temp&from=${T}&to=${T + 3 * 3_600_000}&${query}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json");
      const body = await res.text();
      const step = { "1m": M, "5m": 5 * M, "10s": 10_000 }[params.get("step")!]!;
      const aggregates = params.get("agg")!.split(",") as MetricsAnswerHead["aggregates"];
      const fill = (params.get("fill") ?? "null") as "null";
      const window = params.get("window") ? 10 * M : undefined;
      const answer = await service.query({
        eventType: "temp",
        deviceIds: [],
        metadata: [],
        from: T,
        to: T + 3 * 3_600_000,
        step,
        aggregates,
        groupByDevice: params.get("groupBy") === "deviceId",
        fill,
        limit: f.config.metrics.maxSeries,
        window,
      });
      expect(answer.source).toBe(source);
      // What the route answered before: c.json of the answer with nullable arrays.
      const before = JSON.stringify({
        eventType: "temp",
        from: new Date(T).toISOString(),
        to: new Date(T + 3 * 3_600_000).toISOString(),
        step,
        window: window ?? step,
        source: source === "raw" ? "raw" : `rollup:${source}`,
        aggregates,
        fill,
        timestamps: answer.timestamps,
        series: answer.series,
        truncated: answer.truncated,
      });
      expect(body).toBe(before);
      expect(JSON.parse(body)).toEqual(JSON.parse(before));
      const counted = (JSON.parse(body).series as { values: { count?: (number | null)[] } }[])
        .flatMap((s) => s.values.count ?? []).reduce((n: number, c) => n + (c ?? 0), 0);
      if (aggregates.includes("count") && !window && fill === "null") expect(counted).toBe(events.length);
    });
  });

  it("keeps the nullable answer of query() equal to the typed columns of queryColumns()", async () => {
    await withReadings(async (f, service) => {
      const q = {
        eventType: "temp",
        deviceIds: ["dev-1", "dev-2"],
        metadata: [] as [string, string][],
        from: T,
        to: T + 3 * 3_600_000,
        step: M,
        aggregates: ["count", "avg", "last"] as MetricsAnswerHead["aggregates"],
        groupByDevice: false,
        fill: "null" as const,
        limit: f.config.metrics.maxSeries,
      };
      const [nullable, typed] = [await service.query(q), await service.queryColumns(q)];
      expect(nullable.series.map((s) => s.deviceId)).toEqual([null]);
      for (const name of q.aggregates) {
        expect(nullable.series[0].values[name]).toEqual(toNullableColumn(typed.series[0].column(name)));
      }
      expect(nullable.series[0].values.count!.reduce((n: number, c) => n + (c ?? 0), 0)).toBe(400);
    });
  });
});
