/**
 * InfluxDB line protocol in, against the real server process (Deno and Node): the real
 * `@influxdata/influxdb-client` library writes points with tags, fields and timestamps at every
 * v2 precision, gzipped, and the events read back through `/v1/events` are exactly the mapped
 * points. Bad lines get InfluxDB's 400 naming each line while the good points of the batch are
 * stored whole; a resent batch stores nothing twice; the v1 path takes `u`/`p`, Basic auth and
 * v1's precisions.
 */
import { gzipSync } from "node:zlib";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpError, InfluxDB, Point, setLogger, type WritePrecisionType } from "@influxdata/influxdb-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Runtime, type ServerProcess, startServer } from "./server-process.ts";

const KEY = "influx-test-key-0123456789abcdef";
// The client logs every failed write; the failures here are the ones the tests ask for.
setLogger({ error() {}, warn() {} });
const RUNTIMES: Runtime[] = ["deno", "node"];

interface EventView {
  id: string;
  deviceId: string;
  eventType: string;
  value: number | null;
  timestamp: string;
  metadata: Record<string, unknown> | null;
  data: Record<string, unknown> | null;
}

async function eventsOf(server: ServerProcess, deviceId: string): Promise<EventView[]> {
  const res = await fetch(`${server.url}/v1/events?deviceId=${encodeURIComponent(deviceId)}&limit=1000`, {
    headers: { "x-api-key": KEY },
  });
  expect(res.status).toBe(200);
  const events = (await res.json()).data.events as EventView[];
  return events.map(({ id, deviceId, eventType, value, timestamp, metadata, data }) => ({
    id,
    deviceId,
    eventType,
    value,
    timestamp,
    metadata,
    data,
  })).sort((a, b) => a.timestamp.localeCompare(b.timestamp) || a.eventType.localeCompare(b.eventType));
}

function writeApi(server: ServerProcess, precision: WritePrecisionType, token = KEY) {
  return new InfluxDB({ url: server.url, token }).getWriteApi("org", "bucket", precision, {
    batchSize: 1000,
    flushInterval: 0,
    maxRetries: 0,
    gzipThreshold: 1,
  });
}

const post = (server: ServerProcess, path: string, body: BodyInit, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, {
    method: "POST",
    body,
    headers: { authorization: `Token ${KEY}`, ...headers },
  });

describe.each(RUNTIMES)("line protocol writes (%s)", (runtime) => {
  let dir: string;
  let server: ServerProcess;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pulsestream-influx-"));
    server = await startServer(runtime, {
      DATABASE_URL: `file:${join(dir, "db.sqlite")}`,
      BOOTSTRAP_API_KEY: KEY,
      LOG_LEVEL: "error",
      LINE_PROTOCOL_DEVICE_TAGS: "device,host",
    });
  });
  afterAll(async () => {
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stores what the InfluxDB client writes at each precision, gzipped, exactly", async () => {
    const base = Math.floor(Date.now() / 1000) * 1000 - 60_000;
    const cases: { precision: WritePrecisionType; unit: bigint }[] = [
      { precision: "s", unit: 1_000_000_000n },
      { precision: "ms", unit: 1_000_000n },
      { precision: "us", unit: 1_000n },
      { precision: "ns", unit: 1n },
    ];
    for (const [i, { precision, unit }] of cases.entries()) {
      const device = `dev-${precision}`;
      const api = writeApi(server, precision);
      const points = [0, 1, 2].map((k) => {
        const ms = base + k * 1000 + (precision === "s" ? 0 : 7);
        const ns = BigInt(ms) * 1_000_000n +
          (precision === "ns" ? 123_456n : precision === "us" ? 123_000n : 0n);
        return new Point("climate")
          .tag("device", device)
          .tag("site", "berlin")
          .tag("room", "lab 1")
          .floatField("value", 20.5 + k)
          .intField("humidity", 40 + k)
          .booleanField("door", k % 2 === 0)
          .stringField("note", `k="${k}"`)
          .timestamp(String(ns / unit));
      });
      api.writePoints(points);
      await api.close();
      const stored = await eventsOf(server, device);
      const expected = [0, 1, 2].flatMap((k) => {
        const ms = base + k * 1000 + (precision === "s" ? 0 : 7);
        const common = {
          id: expect.stringMatching(/^lp-[0-9a-f]{32}$/),
          deviceId: device,
          timestamp: new Date(ms).toISOString(),
          metadata: { site: "berlin", room: "lab 1" },
          data: { door: k % 2 === 0, note: `k="${k}"` },
        };
        return [
          { ...common, eventType: "climate", value: 20.5 + k },
          { ...common, eventType: "climate.humidity", value: 40 + k },
        ];
      });
      expect(stored, `precision ${precision} (case ${i})`).toEqual(expected);
    }
  });

  it("maps a configured device tag and a point without a timestamp takes the receive time", async () => {
    const before = Date.now();
    const api = writeApi(server, "ns");
    api.writeRecord("uptime,host=web-1 value=42i");
    await api.close();
    const [event] = await eventsOf(server, "web-1");
    expect(event).toMatchObject({ eventType: "uptime", value: 42, metadata: null, data: null });
    expect(Date.parse(event.timestamp)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(event.timestamp)).toBeLessThanOrEqual(Date.now() + 1000);
    expect(event.id).not.toMatch(/^lp-/);
  });

  it("writes the good points of a batch with bad lines and names each bad line, as InfluxDB does", async () => {
    const t = Date.now() - 5000;
    const lines = [
      `m,device=partial value=1 ${t}`,
      `m,device=partial value=oops ${t + 1}`,
      `m,site=nowhere value=3 ${t + 2}`,
      `m,device=partial value=4,big=1e300 ${t + 3}`,
      `m,device=partial value=5 ${t + 4}`,
    ];
    const api = writeApi(server, "ms");
    api.writeRecords(lines);
    const error = await api.close().then(() => null, (e) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).statusCode).toBe(400);
    const body = JSON.parse((error as HttpError).body!);
    expect(body.code).toBe("invalid");
    expect(body.message).toMatch(/^partial write: 3 of 5 lines rejected, 2 events written/);
    expect(body.message).toContain(
      `line 2: unable to parse 'm,device=partial value=oops ${t + 1}': invalid value of field "value": oops`,
    );
    expect(body.message).toContain("line 3: deviceId: no device tag (device or host)");
    expect(body.message).toMatch(/line 4: value: value must be a finite number/);
    // The good lines are stored, the bad ones not at all (no event of line 4's `value`).
    const stored = await eventsOf(server, "partial");
    expect(stored.map((e) => [e.eventType, e.value, Date.parse(e.timestamp)])).toEqual([
      ["m", 1, t],
      ["m", 5, t + 4],
    ]);
  });

  it("stores nothing twice when a batch is resent, and answers 204 again", async () => {
    const t = Date.now() - 3000;
    const body = gzipSync(`r,device=resend value=1,x=2 ${t}\nr,device=resend value=2 ${t + 1}\n`);
    for (let i = 0; i < 2; i++) {
      const res = await post(server, "/api/v2/write?org=o&bucket=b&precision=ms", body, {
        "content-encoding": "gzip",
        "content-type": "text/plain; charset=utf-8",
      });
      expect(res.status).toBe(204);
    }
    expect((await eventsOf(server, "resend")).map((e) => [e.eventType, e.value])).toEqual([
      ["r", 1],
      ["r.x", 2],
      ["r", 2],
    ]);
  });

  it("takes v1 writes with u/p, Basic auth and v1 precisions, and answers errors in v1's shape", async () => {
    const hour = Math.floor(Date.now() / 3_600_000) - 1;
    const minute = Math.floor(Date.now() / 60_000) - 1;
    const viaQuery = await fetch(`${server.url}/write?db=x&u=me&p=${KEY}&precision=h`, {
      method: "POST",
      body: `v1,device=v1 value=1 ${hour}`,
    });
    expect(viaQuery.status).toBe(204);
    const viaBasic = await fetch(`${server.url}/write?db=x&precision=m`, {
      method: "POST",
      body: `v1,device=v1 value=2 ${minute}`,
      headers: { authorization: `Basic ${btoa(`me:${KEY}`)}` },
    });
    expect(viaBasic.status).toBe(204);
    expect((await eventsOf(server, "v1")).map((e) => [e.value, Date.parse(e.timestamp)])).toEqual([
      [1, hour * 3_600_000],
      [2, minute * 60_000],
    ]);
    const bad = await fetch(`${server.url}/write?db=x&p=${KEY}`, {
      method: "POST",
      body: "v1,device=v1 value=",
    });
    expect(bad.status).toBe(400);
    const message = "partial write: 1 of 1 lines rejected, 0 events written (the other lines are stored); " +
      `line 1: unable to parse 'v1,device=v1 value=': missing field value of "value"`;
    expect(await bad.json()).toEqual({ error: message });
    expect(bad.headers.get("x-influxdb-error")).toBe(message);
  });

  it("refuses a bad key, a bad precision and an oversized line count in InfluxDB's shapes", async () => {
    const unknown = writeApi(server, "ms", "psk_not-a-key");
    unknown.writeRecord("m,device=x value=1");
    const error = await unknown.close().then(() => null, (e) => e);
    expect((error as HttpError).statusCode).toBe(401);
    expect(JSON.parse((error as HttpError).body!).code).toBe("unauthorized");

    const precision = await post(server, "/api/v2/write?precision=h", "m,device=x value=1");
    expect(precision.status).toBe(400);
    expect(await precision.json()).toEqual({
      code: "invalid",
      message: 'invalid precision "h": use ns, us, ms or s',
    });

    const many = Array.from({ length: 10_001 }, (_, i) => `m,device=many value=${i}`).join("\n");
    const tooMany = await post(server, "/api/v2/write", gzipSync(many), { "content-encoding": "gzip" });
    expect(tooMany.status).toBe(413);
    expect((await tooMany.json()).code).toBe("request too large");
    expect(await eventsOf(server, "many")).toEqual([]);
  });
});
