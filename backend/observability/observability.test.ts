import { describe, expect, it } from "vitest";
import { createLogger } from "../logger.ts";
import { EventLoopDelaySampler } from "./event-loop-delay.ts";
import { rejectReason } from "./ingest-outcomes.ts";
import { Observability } from "./observability.ts";
import { MetricsRegistry } from "./registry.ts";

describe("rejectReason", () => {
  it.each([
    ["deviceId", "deviceId"],
    ["metadata.site", "metadata"],
    ["data.a.b", "data"],
    ["data[3]", "data"],
    ["event", "malformed"],
    [undefined, "malformed"],
    ["colour", "unknown_field"],
    ["deviceIdentifier", "unknown_field"],
  ])("maps the field %s to %s", (field, reason) => {
    expect(rejectReason(field)).toBe(reason);
  });
});

describe("EventLoopDelaySampler", () => {
  it("records how late the timer fired, in seconds, and keeps the largest delay until taken", () => {
    let now = 1000;
    const registry = new MetricsRegistry();
    const histogram = registry.histogram({ name: "d_seconds", help: "D.", buckets: [0.01, 0.1, 1] });
    const sampler = new EventLoopDelaySampler(histogram.labels(), { intervalMs: 100, now: () => now });
    sampler.start(); // expects to fire at 1100
    sampler.stop();
    now = 1105;
    expect(sampler.sample()).toBe(5);
    now = 1350;
    expect(sampler.sample()).toBe(250);
    expect(sampler.takeMaxMs()).toBe(250);
    expect(sampler.takeMaxMs()).toBe(0);
    const family = histogram.snapshot();
    expect(family.samples).toEqual([{
      labels: {},
      buckets: [[0.01, 1], [0.1, 1], [1, 2]],
      sum: 0.255,
      count: 2,
    }]);
  });

  it("samples on a real timer", async () => {
    const registry = new MetricsRegistry();
    const histogram = registry.histogram({ name: "d_seconds", help: "D.", buckets: [1] });
    const sampler = new EventLoopDelaySampler(histogram.labels(), { intervalMs: 10 });
    sampler.start();
    await new Promise((r) => setTimeout(r, 100));
    sampler.stop();
    const count = (histogram.snapshot().samples[0] as { count: number }).count;
    expect(count).toBeGreaterThanOrEqual(3);
  });
});

describe("Observability notable events", () => {
  it("logs commit-queue saturation and recovery once per transition, and failed commits", () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger("info", { sink: (line) => lines.push(JSON.parse(line)) });
    const obs = new Observability({ enabled: true, logger });
    let saturated = false;
    const state = { saturated: () => saturated, queuedEvents: () => (saturated ? 950 : 10) };
    obs.checkNotable(state);
    saturated = true;
    obs.checkNotable(state);
    obs.checkNotable(state);
    saturated = false;
    obs.checkNotable(state);
    obs.onCommit({ events: 12, requests: 3, durationMs: 4.567, ok: false });
    expect(lines.map(({ time: _, ...rest }) => rest)).toEqual([
      { level: "warn", msg: "commit queue saturated", queuedEvents: 950 },
      { level: "info", msg: "commit queue recovered", queuedEvents: 10 },
      { level: "error", msg: "commit failed", events: 12, requests: 3, durationMs: 4.57 },
    ]);
  });

  it("bounds HTTP series: unknown methods are 'other'", async () => {
    const obs = new Observability({ enabled: true, logger: createLogger("silent") });
    obs.observeRequest("BREW", "/*", 404, 0.001);
    obs.observeRequest("GET", "/livez", 200, 0.002);
    const text = await obs.registry.render();
    expect(text).toContain(
      'pulsestream_http_request_duration_seconds_count{method="other",route="/*",code="404"} 1\n',
    );
    expect(text).toContain(
      'pulsestream_http_request_duration_seconds_count{method="GET",route="/livez",code="200"} 1\n',
    );
  });

  it("caps HTTP series at 2,000: requests on further routes are counted as route 'other'", async () => {
    const obs = new Observability({ enabled: true, logger: createLogger("silent") });
    for (let i = 0; i < 2000; i++) obs.observeRequest("GET", `/r${i}`, 200, 0.001);
    obs.observeRequest("GET", "/r2000", 200, 0.001);
    obs.observeRequest("POST", "/r2001", 500, 0.001);
    obs.observeRequest("GET", "/r7", 200, 0.001); // a known route keeps its own series
    const text = await obs.registry.render();
    const counts = [...text.matchAll(/^pulsestream_http_request_duration_seconds_count\{(.*)\} (\d+)$/gm)];
    expect(counts).toHaveLength(2002);
    expect(text).not.toContain('route="/r2000"');
    expect(text).toContain(
      'pulsestream_http_request_duration_seconds_count{method="GET",route="other",code="200"} 1\n',
    );
    expect(text).toContain(
      'pulsestream_http_request_duration_seconds_count{method="POST",route="other",code="500"} 1\n',
    );
    expect(text).toContain(
      'pulsestream_http_request_duration_seconds_count{method="GET",route="/r7",code="200"} 2\n',
    );
  });

  it.each([true, false])(
    "logs 'event loop blocked' when the loop stalled over 1 s (instrumentation on: %s)",
    async (enabled) => {
      const lines: Record<string, unknown>[] = [];
      const logger = createLogger("info", { sink: (line) => lines.push(JSON.parse(line)) });
      const obs = new Observability({ enabled, logger, eventLoopIntervalMs: 10 });
      const state = { saturated: () => false, queuedEvents: () => 0 };
      obs.start();
      try {
        await new Promise((r) => setTimeout(r, 30));
        obs.checkNotable(state); // short delays only: nothing logged
        expect(lines).toEqual([]);
        const until = performance.now() + 1100;
        while (performance.now() < until) { /* block the loop */ }
        await new Promise((r) => setTimeout(r, 30)); // the sampler's late timer fires
        obs.checkNotable(state);
        expect(lines).toEqual([{
          level: "warn",
          time: expect.any(String),
          msg: "event loop blocked",
          delayMs: expect.any(Number),
        }]);
        expect(lines[0].delayMs as number).toBeGreaterThanOrEqual(1000);
        obs.checkNotable(state); // taken: logged once
        expect(lines).toHaveLength(1);
      } finally {
        obs.close();
      }
    },
  );
});
