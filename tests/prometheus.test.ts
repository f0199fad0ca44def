/**
 * /metrics against the real tools: `promtool check metrics` (format and naming
 * lint) on the output of real server processes under Deno and Node, then a real
 * Prometheus server (Debian's /usr/bin/prometheus, installed by .ci/run) that
 * scrapes both every second with a read-scope key (METRICS_AUTH=read) and
 * answers a PromQL query with the counts ingested over HTTP, WebSocket and
 * import. Every process started here is stopped here, by its PID.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { freePort, type Runtime, type ServerProcess, startServer } from "./server-process.ts";

const KEY = "prometheus-test-key-0123456789abcdef";
const PROMTOOL = "/usr/bin/promtool";
const PROMETHEUS = "/usr/bin/prometheus";
const RUNTIMES: Runtime[] = ["deno", "node"];
/** What each server is sent: accepted events per transport. */
const EXPECTED = { http: 5, websocket: 3, import: 2 };

const headers = { "x-api-key": KEY };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends the known set: 5 accepted + 1 duplicate + 1 rejected over HTTP, 3 over WebSocket, 2 imported. */
async function ingestKnownSet(server: ServerProcess): Promise<void> {
  const ev = (id: string) => ({ id, deviceId: "prom-dev", eventType: "t", value: 1 });
  const post = await fetch(`${server.url}/v1/events`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify([ev("h1"), ev("h2"), ev("h3"), ev("h4"), ev("h5"), ev("h1"), { deviceId: "x" }]),
  });
  expect((await post.json()).data.totals).toEqual({ received: 7, accepted: 5, duplicate: 1, rejected: 1 });

  const ws = new WebSocket(`${server.url.replace("http", "ws")}/v1/ingest`, { headers });
  const ack = new Promise<{ status: number }>((resolve, reject) => {
    ws.once("message", (data) => resolve(JSON.parse(String(data))));
    ws.once("error", reject);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  ws.send(JSON.stringify({ seq: 1, events: [ev("w1"), ev("w2"), ev("w3")] }));
  expect((await ack).status).toBe(202);
  ws.close();

  const imported = await fetch(`${server.url}/v1/import`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/x-ndjson" },
    body: [ev("i1"), ev("i2")].map((e) => JSON.stringify(e)).join("\n"),
  });
  expect(imported.status).toBe(201);
}

function run(cmd: string, args: string[], stdin: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, output }));
    child.stdin.end(stdin);
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/** Polls `fn` until it returns a value (not undefined) or `timeoutMs` passes. */
async function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (error) {
      last = error; // not up yet
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

describe("Prometheus", () => {
  const servers = new Map<Runtime, ServerProcess>();
  const dirs: string[] = [];

  beforeAll(async () => {
    for (const tool of [PROMTOOL, PROMETHEUS]) {
      if (!existsSync(tool)) throw new Error(`${tool} missing: apt-get install prometheus (see .ci/run)`);
    }
    for (const runtime of RUNTIMES) {
      const dir = mkdtempSync(join(tmpdir(), "pulsestream-prom-"));
      dirs.push(dir);
      const server = await startServer(runtime, {
        DATABASE_URL: `file:${join(dir, "p.db")}`,
        BOOTSTRAP_API_KEY: KEY,
        LOG_LEVEL: "warn",
        METRICS_AUTH: "read",
      });
      servers.set(runtime, server);
      await ingestKnownSet(server);
    }
  }, 120_000);

  afterAll(async () => {
    for (const server of servers.values()) await server.kill("SIGTERM");
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it.each(RUNTIMES)(
    "promtool check metrics finds no problem in the %s server's /metrics",
    async (runtime) => {
      const server = servers.get(runtime)!;
      expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
      // The event-loop sampler records one sample per 100 ms timer: a server that started and took
      // its events within that time has none yet, so wait (at most 5 s) for the first.
      const sampled = /^pulsestream_event_loop_delay_seconds_count [1-9]\d*$/m;
      let res: Response;
      let text = "";
      for (const deadline = Date.now() + 5_000;;) {
        res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } });
        text = await res.text();
        if (sampled.test(text) || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      expect(text).toContain(
        `pulsestream_events_total{transport="http",outcome="accepted"} ${EXPECTED.http}\n`,
      );
      expect(text).toContain(
        `pulsestream_events_total{transport="websocket",outcome="accepted"} ${EXPECTED.websocket}\n`,
      );
      expect(text).toContain("# TYPE process_resident_memory_bytes gauge\n");
      expect(text).toMatch(sampled);
      const result = await run(PROMTOOL, ["check", "metrics"], text);
      expect(result).toEqual({ code: 0, output: "" });
    },
  );

  it("scrapes both servers and answers a query with the ingested counts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-prometheus-"));
    dirs.push(dir);
    const port = await freePort();
    const targets = [...servers.values()].map((s) => `"127.0.0.1:${s.port}"`).join(", ");
    writeFileSync(
      join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "scrape_configs:",
        "  - job_name: pulsestream",
        "    authorization:",
        `      credentials: ${KEY}`,
        "    static_configs:",
        `      - targets: [${targets}]`,
        "",
      ].join("\n"),
    );
    const prometheus = spawn(PROMETHEUS, [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    prometheus.stdout!.on("data", (d) => (log += d));
    prometheus.stderr!.on("data", (d) => (log += d));
    const api = `http://127.0.0.1:${port}/api/v1`;
    try {
      const up = await poll("both targets up", 30_000, async () => {
        if (prometheus.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
        const body = await (await fetch(`${api}/targets`)).json();
        const active = body.data.activeTargets as { health: string; lastError: string }[];
        return active.length === servers.size && active.every((t) => t.health === "up") ? active : undefined;
      });
      expect(up.map((t) => t.lastError)).toEqual(up.map(() => ""));

      const query = async (promql: string) => {
        const body = await (await fetch(`${api}/query?query=${encodeURIComponent(promql)}`)).json();
        expect(body.status).toBe("success");
        return body.data.result as { metric: Record<string, string>; value: [number, string] }[];
      };
      const byInstance = await poll("the ingested counts", 20_000, async () => {
        const result = await query('pulsestream_events_total{outcome="accepted"}');
        return result.length === servers.size * 3 ? result : undefined;
      });
      const seen = byInstance.map((r) => [r.metric.instance, r.metric.transport, Number(r.value[1])]).sort();
      const expected = [...servers.values()].flatMap((s) =>
        Object.entries(EXPECTED).map(([transport, n]) => [`127.0.0.1:${s.port}`, transport, n])
      ).sort();
      expect(seen).toEqual(expected);

      const rejected = await query('sum(pulsestream_events_total{outcome="rejected",reason="eventType"})');
      expect(Number(rejected[0].value[1])).toBe(servers.size);
      const median = await query(
        "histogram_quantile(0.5, sum by (le) (pulsestream_http_request_duration_seconds_bucket))",
      );
      expect(Number(median[0].value[1])).toBeGreaterThan(0);
    } finally {
      await stop(prometheus);
    }
  }, 90_000);
});
