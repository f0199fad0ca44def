import { describe, expect, it } from "vitest";
import { createLogger } from "../logger.ts";
import { systemClock } from "../clock.ts";
import { StoreUnavailableError } from "../errors.ts";
import { ingestEvents } from "../ingest/ingest-service.ts";
import { registerIngestOutcomes } from "../observability/ingest-outcomes.ts";
import { MetricsRegistry } from "../observability/registry.ts";
import { createEventValidator } from "../../shared/event-schema.ts";
import { Hono } from "hono";
import { GroupCommitter } from "../ingest/group-committer.ts";
import { enrich } from "../ingest/ingest-service.ts";
import type { AppEnv } from "./app-env.ts";
import { healthRoutes } from "./health-routes.ts";
import { FakeClock, withApp } from "../testing/with-app.ts";

const json = (v: unknown) => JSON.stringify(v);
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

/** Series text (name with labels, as exposed) → value, from an exposition. */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

const events = (transport: string, outcome: string, reason?: string) =>
  `pulsestream_events_total{transport="${transport}",outcome="${outcome}"${
    reason ? `,reason="${reason}"` : ""
  }}`;

/** The non-zero `pulsestream_events_total` series. */
function eventCounts(series: Map<string, number>): Record<string, number> {
  return Object.fromEntries(
    [...series].filter(([k, v]) => k.startsWith("pulsestream_events_total{") && v !== 0),
  );
}

describe("GET /metrics", () => {
  it("counts exactly the accepted, duplicate, rejected (by reason) and rate-limited events sent", async () => {
    // Burst 10 and a clock that does not move: the bucket never refills during the test.
    const env = { RATE_LIMIT_EVENTS_PER_SEC: "1", RATE_LIMIT_BURST: "10", MAX_EVENTS_PER_REQUEST: "10" };
    await withApp(async (f) => {
      const post = (body: unknown) => f.request("/v1/events", { method: "POST", body: json(body) });
      const ev = (id: string) => ({ id, deviceId: "sensor-1", eventType: "temperature", value: 1 });
      expect((await post([ev("a"), ev("b"), ev("c")])).status).toBe(202);
      expect((await post(ev("a"))).status).toBe(202); // duplicate
      const mixed = await post([ev("d"), { ...ev("e"), value: "hot" }, { ...ev("f"), colour: "red" }]);
      expect(mixed.status).toBe(202);
      expect((await post([ev("g"), ev("h"), ev("i"), ev("j")])).status).toBe(429); // 7 + 4 > 10
      // 11 events > MAX_EVENTS_PER_REQUEST: refused before the rate limit, counted (the body was
      // counted whole).
      const big = json(Array.from({ length: 11 }, (_, i) => ev(`big${i}`)));
      const refused = await f.request("/v1/events", {
        method: "POST",
        body: big,
        headers: { "content-length": String(new TextEncoder().encode(big).byteLength) },
      });
      expect(refused.status).toBe(413);
      expect((await f.request("/v1/events/no-such-event")).status).toBe(404);

      const res = await f.request("/metrics", { key: null });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      const text = await res.text();
      const series = parseExposition(text);
      expect(eventCounts(series)).toEqual({
        [events("http", "accepted")]: 4,
        [events("http", "duplicate")]: 1,
        [events("http", "rejected", "value")]: 1,
        [events("http", "rejected", "unknown_field")]: 1,
        [events("http", "rate_limited")]: 4,
        [events("http", "rejected", "too_large")]: 11,
      });
      const http = (route: string, method: string, code: number) =>
        series.get(
          `pulsestream_http_request_duration_seconds_count{method="${method}",route="${route}",code="${code}"}`,
        );
      expect(http("/v1/events", "POST", 202)).toBe(3);
      expect(http("/v1/events", "POST", 429)).toBe(1);
      expect(http("/v1/events", "POST", 413)).toBe(1);
      expect(http("/v1/events/:id", "GET", 404)).toBe(1);
      expect(text).not.toContain("no-such-event"); // route patterns, never raw paths
      expect(text).not.toContain("sensor-1"); // no device ids as labels
      // Three sequential requests reached the store: 3 + 1 + 1 events, one transaction each.
      expect(series.get("pulsestream_commit_batch_events_count")).toBe(3);
      expect(series.get("pulsestream_commit_batch_events_sum")).toBe(5);
      expect(series.get('pulsestream_commit_batch_events_bucket{le="1"}')).toBe(2);
      expect(series.get('pulsestream_commit_batch_events_bucket{le="+Inf"}')).toBe(3);
      expect(series.get("pulsestream_commit_queue_events")).toBe(0);
      expect(series.get("pulsestream_stream_receive_to_aggregate_seconds_count")).toBe(4);
      expect(series.get("pulsestream_live_subscribers")).toBe(0);
      expect(series.get("pulsestream_store_events")).toBe(4);
      expect(series.get("pulsestream_store_size_bytes")).toBeGreaterThan(0);
      expect(series.get('pulsestream_stream_watermark_lag_seconds{partition="0"}')).toBeTypeOf("number");
      expect([...series.keys()].some((k) => k.startsWith('pulsestream_build_info{version="0.1.0"'))).toBe(
        true,
      );
    }, { env, clock: new FakeClock() });
  });

  it("counts import records, and the events of requests refused by a full commit queue", async () => {
    await withApp(async (f) => {
      const lines = [
        json({ id: "i1", deviceId: "d", eventType: "t", value: 1 }),
        json({ id: "i2", deviceId: "d", eventType: "t", value: 2 }),
        "{not json",
        json({ id: "i3", deviceId: "d", eventType: "t", timestamp: "yesterday" }),
      ].join("\n");
      const imported = await f.request("/v1/import", {
        method: "POST",
        body: lines,
        headers: { "content-type": "application/x-ndjson" },
      });
      expect(imported.status).toBe(201);
      // A 1 s linger holds the first 10-event request in the 10-event queue; the five sent while
      // it waits find the queue full and get 503 at once.
      const batch = (n: number) =>
        Array.from({ length: 10 }, (_, i) => ({ id: `o${n}-${i}`, deviceId: "d", eventType: "t" }));
      const post = (n: number) => f.request("/v1/events", { method: "POST", body: json(batch(n)) });
      const held = post(0);
      while (f.server.committer.queuedEvents < 10) await new Promise((r) => setTimeout(r, 5));
      const statuses = await Promise.all([1, 2, 3, 4, 5].map((n) => post(n).then((r) => r.status)));
      expect(statuses).toEqual([503, 503, 503, 503, 503]);
      expect((await held).status).toBe(202);

      const series = parseExposition(await (await f.request("/metrics")).text());
      expect(eventCounts(series)).toEqual({
        [events("import", "accepted")]: 2,
        [events("import", "rejected", "malformed")]: 1,
        [events("import", "rejected", "timestamp")]: 1,
        [events("http", "accepted")]: 10,
        [events("http", "overloaded")]: 50,
      });
    }, {
      env: {
        MAX_EVENTS_PER_REQUEST: "10",
        COMMIT_QUEUE_MAX_EVENTS: "10",
        COMMIT_MAX_BATCH_EVENTS: "10",
        COMMIT_LINGER_MS: "1000",
      },
    });
  });

  it("counts NDJSON bodies line by line, and an idempotent replay counts nothing", async () => {
    await withApp(async (f) => {
      const body = [
        json({ id: "n1", deviceId: "d", eventType: "t", value: 1 }),
        "{not json",
        json({ id: "n2", deviceId: "d", eventType: "t", value: 2 }),
        json({ id: "n1", deviceId: "d", eventType: "t", value: 1 }),
      ].join("\n");
      const send = () =>
        f.request("/v1/events", {
          method: "POST",
          body,
          headers: { "content-type": "application/x-ndjson", "idempotency-key": "nd-1" },
        });
      const first = await send();
      expect(first.status).toBe(202);
      const counted = {
        [events("http", "accepted")]: 2,
        [events("http", "duplicate")]: 1,
        [events("http", "rejected", "malformed")]: 1,
      };
      expect(eventCounts(parseExposition(await (await f.request("/metrics")).text()))).toEqual(counted);
      const replay = await send();
      expect(replay.status).toBe(202);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(eventCounts(parseExposition(await (await f.request("/metrics")).text()))).toEqual(counted);
    });
  });

  it("needs a key with read scope when METRICS_AUTH=read", async () => {
    await withApp(async (f) => {
      expect((await f.request("/metrics", { key: null })).status).toBe(401);
      const created = await f.request("/v1/admin/keys", {
        method: "POST",
        body: json({ name: "ingest only", scopes: ["ingest"] }),
      });
      const ingestKey = (await created.json()).data.key;
      expect((await f.request("/metrics", { key: ingestKey })).status).toBe(403);
      const ok = await f.request("/metrics", { headers: { authorization: `Bearer ${(await readKey(f))}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain("# TYPE pulsestream_events_total counter\n");
    }, { env: { METRICS_AUTH: "read" } });
  });

  it("is not served when METRICS_INSTRUMENTATION=off", async () => {
    await withApp(async (f) => {
      expect((await f.request("/metrics", { key: null })).status).toBe(404);
      expect(
        (await f.request("/v1/events", { method: "POST", body: json({ deviceId: "d", eventType: "t" }) }))
          .status,
      )
        .toBe(202);
    }, { env: { METRICS_INSTRUMENTATION: "off" } });
  });
});

async function readKey(f: { request: (p: string, i?: RequestInit) => Promise<Response> }): Promise<string> {
  const res = await f.request("/v1/admin/keys", {
    method: "POST",
    body: json({ name: "prometheus", scopes: ["read"] }),
  });
  return (await res.json()).data.key;
}

describe("ingest outcome counters", () => {
  it("counts the valid events of a request whose commit failed as failed, its invalid ones as rejected", async () => {
    await withApp(async (f) => {
      const registry = new MetricsRegistry();
      const outcomes = registerIngestOutcomes(registry).http;
      const deps = {
        validator: createEventValidator(f.config.eventLimits),
        committer: f.server.committer,
        clock: systemClock,
        partitions: f.config.partitions,
        outcomes,
      };
      await f.server.store.close();
      const items = [{ deviceId: "d", eventType: "t" }, { deviceId: "d", eventType: "t" }, { deviceId: "" }];
      await expect(ingestEvents(deps, { items, single: false, maxIdLength: 128 })).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      expect(eventCounts(parseExposition(await registry.render()))).toEqual({
        [events("http", "failed")]: 2,
        [events("http", "rejected", "deviceId")]: 1,
      });
    });
  });
});

describe("request logs", () => {
  it("writes one line per request with the traceparent's trace id, route pattern, status and duration", async () => {
    const lines: { line: string; level: string }[] = [];
    const logger = createLogger("info", { sink: (line, level) => lines.push({ line, level }) });
    await withApp(async (f) => {
      await f.request("/v1/events/evt-1", {
        headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01`, "x-request-id": "req-traced" },
      });
      await f.request("/livez", {
        headers: { traceparent: `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01` },
      });
    }, { logger });
    const requests = lines.map((l) => JSON.parse(l.line)).filter((l) => l.msg === "request");
    expect(requests).toHaveLength(2);
    expect(requests[0]).toEqual({
      level: "info",
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      msg: "request",
      requestId: "req-traced",
      traceId: TRACE,
      parentSpanId: "00f067aa0ba902b7",
      method: "GET",
      route: "/v1/events/:id",
      path: "/v1/events/evt-1",
      status: 404,
      durationMs: expect.any(Number),
    });
    expect(requests[1]).not.toHaveProperty("traceId"); // invalid (uppercase) traceparent is ignored
    expect(requests[1]).toMatchObject({ route: "/livez", status: 200 });
  });

  it("respects LOG_LEVEL: warn drops 2xx/4xx request lines but keeps warnings and 5xx requests (error)", async () => {
    const lines: string[] = [];
    const logger = createLogger("warn", { sink: (line) => lines.push(line) });
    await withApp(async (f) => {
      await f.request("/livez");
      expect((await f.request("/v1/events/missing")).status).toBe(404);
      logger.info("not shown");
      logger.warn("shown", { n: 1 });
      await f.server.store.close();
      expect((await f.request("/v1/events/gone", { headers: { "x-request-id": "r-503" } })).status).toBe(503);
    }, { logger });
    const parsed = lines.map((l) => JSON.parse(l));
    expect(parsed.filter((l) => l.msg !== "store unavailable")).toEqual([
      { level: "warn", time: expect.any(String), msg: "shown", n: 1 },
      {
        level: "error",
        time: expect.any(String),
        msg: "request",
        requestId: "r-503",
        method: "GET",
        route: "/v1/events/:id",
        path: "/v1/events/gone",
        status: 503,
        durationMs: expect.any(Number),
      },
    ]);
    // The store's own error line (the error handler's) is there too.
    expect(parsed.filter((l) => l.msg === "store unavailable").map((l) => l.level)).toEqual(["error"]);
  });
});

describe("health endpoints", () => {
  it("lists each readiness check with its duration under ?verbose, and fails when the store is gone", async () => {
    await withApp(async (f) => {
      const ok = await f.request("/readyz?verbose", { key: null });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("content-type")).toMatch(/^text\/plain/);
      expect(await ok.text()).toMatch(
        /^\[\+\]store ok \(\d+(\.\d+)? ms\)\n\[\+\]writes ok \(\d+(\.\d+)? ms\)\n\[\+\]commitQueue ok \(\d+(\.\d+)? ms\)\nreadyz check passed\n$/,
      );
      const json = await (await f.request("/readyz")).json();
      expect(json).toEqual({
        status: "ready",
        checks: {
          store: { status: "ok", durationMs: expect.any(Number) },
          writes: { status: "ok", durationMs: expect.any(Number) },
          commitQueue: { status: "ok", queuedEvents: 0, durationMs: expect.any(Number) },
        },
      });
      expect(await (await f.request("/livez?verbose")).text()).toBe("[+]ping ok\nlivez check passed\n");

      await f.server.store.close();
      const down = await f.request("/readyz?verbose");
      expect(down.status).toBe(503);
      expect(down.headers.get("retry-after")).toBe("1");
      expect(await down.text()).toMatch(
        /^\[-\]store failed: store unavailable \(\d+(\.\d+)? ms\)\n\[\+\]writes ok \(\d+(\.\d+)? ms\)\n\[\+\]commitQueue ok \(\d+(\.\d+)? ms\)\nreadyz check failed\n$/,
      );
      expect((await f.request("/health")).status).toBe(503);
    });
  });

  it("reports an overloaded commit queue and failing added checks, each on its own line", async () => {
    const logged: string[] = [];
    const logger = createLogger("warn", { sink: (line) => logged.push(line) });
    await withApp(async (f) => {
      // A linger of 1 s keeps 10 events queued (≥ 90 % of 10) long enough to look at.
      const committer = new GroupCommitter(f.server.store, {
        maxBatchEvents: 10,
        maxQueuedEvents: 10,
        lingerMs: 1000,
      });
      const app = new Hono<AppEnv>().route(
        "/",
        healthRoutes({
          store: f.server.store,
          committer,
          clock: systemClock,
          startedAt: 0,
          version: "test",
          logger,
          checks: [
            {
              name: "alerting",
              // details never override the status and reason the route sets
              run: () => ({
                ok: false,
                reason: "evaluator stopped",
                details: { status: "ok", reason: "spoofed", rules: 3 },
              }),
            },
            {
              name: "exploding",
              run: () => {
                throw new Error("SELECT secret FROM internals");
              },
            },
          ],
        }),
      );
      const events = Array.from(
        { length: 10 },
        (_, i) => enrich({ id: `q${i}`, deviceId: "d", eventType: "t" }, { now: Date.now(), partitions: 1 }),
      );
      const committed = committer.submit(events);
      const res = await app.request("/readyz?verbose");
      expect(res.status).toBe(503);
      const text = await res.text();
      expect(text.replace(/\(\d+(\.\d+)? ms\)/g, "(… ms)")).toBe(
        [
          "[+]store ok (… ms)",
          "[+]writes ok (… ms)",
          "[-]commitQueue failed: overloaded: 10 events queued (… ms)",
          "[-]alerting failed: evaluator stopped (… ms)",
          "[-]exploding failed: check failed (… ms)",
          "readyz check failed",
          "",
        ].join("\n"),
      );
      const json = await (await app.request("/readyz")).json();
      expect(json.checks.commitQueue).toEqual({
        status: "overloaded",
        reason: "overloaded: 10 events queued",
        queuedEvents: 10,
        durationMs: expect.any(Number),
      });
      expect(json.checks.alerting).toEqual({
        status: "failing",
        reason: "evaluator stopped",
        rules: 3,
        durationMs: expect.any(Number),
      });
      // The thrown error is not in any answer, but it is in the log (once per /readyz call).
      expect(logged.map((l) => JSON.parse(l))).toEqual([1, 2].map(() => ({
        level: "warn",
        time: expect.any(String),
        msg: "readiness check failed",
        check: "exploding",
        error: "Error: SELECT secret FROM internals",
      })));
      expect((await committed).every((o) => o === "accepted")).toBe(true);
      expect((await app.request("/readyz?verbose")).status).toBe(503); // the added checks still fail
      await committer.close();
    });
  });
});
