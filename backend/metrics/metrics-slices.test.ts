/**
 * Sliced metric answers (`MetricsService.querySlices` written by
 * `metricsSlicedStream`): the same bytes as the one-shot answer whatever the
 * slice size, slices read only as the answer is taken, the byte bound cutting
 * after a whole series with `"truncated": true`, and the cost bounds refusing
 * before anything is read.
 */
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import { type AppFixture, FakeClock, withApp } from "../testing/with-app.ts";
import { metricsAnswerChunks, type MetricsAnswerHead, metricsSlicedStream } from "../http/metrics-json.ts";
import { MetricsService } from "./metrics-query.ts";
import type { MetricsQuery } from "./metrics-types.ts";

const T = Date.parse("2026-11-22T12:00:00.000Z");
const M = 60_000;
const DEVICES = 7;

/** Readings of 7 devices over 3 hours. */
const events = Array.from({ length: 700 }, (_, i) => ({
  id: `e${i}`,
  deviceId: `dev-${i % DEVICES}`,
  eventType: "temp",
  value: 15 + ((i * 37) % 200) / 10,
  timestamp: T + Math.floor(i / DEVICES) * 107_000,
}));

async function withReadings(
  fn: (f: AppFixture, service: MetricsService) => Promise<void>,
  env: Record<string, string> = {},
) {
  await withApp(async (f) => {
    const res = await f.request("/v1/events", { method: "POST", body: JSON.stringify(events) });
    expect(res.status).toBe(202);
    f.server.stream!.tick();
    await f.server.stream!.flush();
    await fn(f, new MetricsService(f.server.store, f.server.stream!, [M, 3_600_000], f.config.metrics));
  }, { clock: new FakeClock(T + 4 * 3_600_000), env });
}

const query = (aggregates: MetricsQuery["aggregates"]): MetricsQuery => ({
  eventType: "temp",
  deviceIds: [],
  metadata: [],
  from: T,
  to: T + 3 * 3_600_000,
  step: M,
  aggregates,
  groupByDevice: true,
  fill: "null",
  limit: 1000,
});

const head = (q: MetricsQuery): MetricsAnswerHead => ({
  eventType: q.eventType,
  from: new Date(q.from).toISOString(),
  to: new Date(q.to).toISOString(),
  step: q.step,
  window: q.step,
  source: "rollup:60000",
  aggregates: q.aggregates,
  fill: q.fill,
});

const decode = (chunks: Uint8Array[]) => new TextDecoder().decode(Buffer.concat(chunks));

describe("sliced metric answers", () => {
  it.each(
    [
      ["scalar", ["count", "avg", "max"]],
      ["sketch", ["count", "p95", "distinct"]],
    ] as const,
  )("write the same bytes as the one-shot answer, one device per slice (%s path)", async (_, aggs) => {
    await withReadings(async (_f, service) => {
      const q = query([...aggs]);
      const whole = decode([...metricsAnswerChunks(head(q), await service.queryColumns(q))]);
      // 180 buckets per series and slices of 180 buckets: seven slices of one device.
      const sliced = await new Response(
        metricsSlicedStream(head(q), await service.querySlices(q, { sliceBuckets: 180 })),
      )
        .text();
      expect(sliced).toBe(whole);
      const body = JSON.parse(sliced);
      expect(body.series.map((s: { deviceId: string }) => s.deviceId)).toEqual(
        Array.from({ length: DEVICES }, (_, i) => `dev-${i}`),
      );
      expect(
        body.series.flatMap((s: { values: { count: number[] } }) => s.values.count)
          .reduce((n: number, c: number | null) => n + (c ?? 0), 0),
      ).toBe(700);
    });
  });

  it("reads the next slice only when the answer written so far has been taken", async () => {
    await withReadings(async (_f, service) => {
      const q = query(["count"]);
      const result = await service.querySlices(q, { sliceBuckets: 180 });
      let slicesRead = 0;
      const inner = result.slices;
      result.slices = (async function* () {
        for await (const slice of inner) {
          slicesRead++;
          yield slice;
        }
      })();
      const reader = metricsSlicedStream(head(q), result).getReader();
      await reader.read(); // the first series (and the opening) in one chunk
      for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
      expect(slicesRead).toBe(1);
      await reader.cancel();
      for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
      expect(slicesRead).toBe(1);
    });
  });

  it("stops at the byte bound after a whole series, as valid JSON saying truncated", async () => {
    await withReadings(async (_f, service) => {
      const q = query(["count", "avg"]);
      const full = decode([...metricsAnswerChunks(head(q), await service.queryColumns(q))]);
      const cuts: [number, number][] = [];
      const maxBytes = Math.floor(full.length / 2);
      const text = await new Response(
        metricsSlicedStream(head(q), await service.querySlices(q, { sliceBuckets: 180 }), {
          maxBytes,
          onCut: (series, bytes) => cuts.push([series, bytes]),
        }),
      ).text();
      const body = JSON.parse(text);
      expect(body.truncated).toBe(true);
      expect(body.series.length).toBeGreaterThan(1);
      expect(body.series.length).toBeLessThan(DEVICES);
      expect(cuts).toEqual([[body.series.length, expect.any(Number)]]);
      // Every series written is whole and equal to the full answer's.
      expect(body.series).toEqual(JSON.parse(full).series.slice(0, body.series.length));
      // Cut before the series that would start past the bound.
      const withoutLast = JSON.stringify(body.series.slice(0, -1)).length;
      expect(withoutLast).toBeLessThan(maxBytes);
    });
  });

  it("refuses an answer of more values than METRICS_MAX_CELLS and a scan of more than METRICS_MAX_SCAN_BUCKETS", async () => {
    await withReadings(async (f, service) => {
      // 180 points × 7 series × 2 aggregates = 2,520 values; 180 × 7 = 1,260 buckets.
      expect(f.config.metrics.maxCells).toBe(2000);
      const cells = await service.querySlices(query(["count", "avg"])).catch((e) => e);
      expect(cells).toBeInstanceOf(ValidationError);
      expect(cells.errors[0].message).toMatch(/would hold 2520 values .* at most 2000/);
      const res = await f.request(
        `/v1/metrics?eventType=temp&from=${T}&to=${T + 3 * 3_600_000}&step=1m&groupBy=deviceId&agg=count,avg`,
      );
      expect(res.status).toBe(400);
      const ok = await f.request(
        `/v1/metrics?eventType=temp&from=${T}&to=${T + 3 * 3_600_000}&step=1m&groupBy=deviceId&agg=count`,
      );
      expect(ok.status).toBe(200);
    }, { METRICS_MAX_CELLS: "2000" });
    await withReadings(async (f) => {
      const res = await f.request(
        `/v1/metrics?eventType=temp&from=${T}&to=${T + 3 * 3_600_000}&step=1m&groupBy=deviceId&agg=count`,
      );
      expect(res.status).toBe(400);
      expect((await res.json()).errors[0].message).toMatch(/would read 1260 stored buckets .* 1000 in all/);
    }, { METRICS_MAX_SCAN_BUCKETS: "1000" });
  });
});
