/**
 * WebSocket ingestion against the real server under Deno and Node: acks only
 * after durability (a SIGKILL right after an ack still finds the events),
 * per-frame errors, Idempotency-Key replays, backpressure on a client that
 * does not wait for acks, and auth failures at the upgrade.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type Runtime, startServer } from "./server-process.ts";

const KEY = "ws-ingest-key-0123456789abcdef";

interface Answer {
  type: "ack" | "error";
  seq: number | null;
  status: number;
  replayed?: boolean;
  message?: string;
  errors?: { field: string; message: string }[];
  body?: { data: { totals?: Record<string, number>; id?: string } };
}

async function open(url: string, headers: Record<string, string> = { "x-api-key": KEY }) {
  const ws = new WebSocket(url, { headers });
  const answers: Answer[] = [];
  ws.on("message", (data) => answers.push(JSON.parse(String(data))));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return {
    ws,
    answers,
    async until(n: number): Promise<Answer[]> {
      const deadline = Date.now() + 5000;
      while (answers.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      return answers;
    },
  };
}

/** The non-zero `pulsestream_events_total{transport="websocket"}` series, by outcome[/reason]. */
async function wsCounts(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^pulsestream_events_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels.transport !== "websocket" || Number(m[2]) === 0) continue;
    out[labels.reason ? `${labels.outcome}/${labels.reason}` : labels.outcome] = Number(m[2]);
  }
  return out;
}

describe.each(["deno", "node"] as Runtime[])("WebSocket ingestion (%s)", (runtime) => {
  it("acks frames only once durable, reports per-frame errors and replays idempotent frames", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-wsi-"));
    const env = { DATABASE_URL: `file:${join(dir, "i.db")}`, BOOTSTRAP_API_KEY: KEY, LOG_LEVEL: "error" };
    let server = await startServer(runtime, env);
    try {
      const url = `${server.url.replace("http", "ws")}/v1/ingest`;
      const c = await open(url);
      const ev = (id: string) => ({ id, deviceId: "ws-dev", eventType: "t", value: 1 });
      c.ws.send(JSON.stringify({ seq: 1, events: [ev("i1"), ev("i2"), ev("i1")] }));
      c.ws.send(JSON.stringify(ev("i3"))); // a bare event
      c.ws.send([ev("i4"), ev("i5")].map((e) => JSON.stringify(e)).join("\n")); // NDJSON
      c.ws.send("{not json");
      c.ws.send(JSON.stringify({ seq: 5, events: [{ deviceId: "" }] }));
      c.ws.send(JSON.stringify({ seq: 6, events: [ev("i6")], idempotencyKey: "k-1" }));
      const answers = await c.until(6);
      const bySeq = (seq: number | null) => answers.filter((a) => a.seq === seq);
      expect(bySeq(1)[0]).toMatchObject({
        type: "ack",
        status: 202,
        body: { data: { totals: { received: 3, accepted: 2, duplicate: 1, rejected: 0 } } },
      });
      const anonymous = bySeq(null);
      expect(anonymous.filter((a) => a.type === "ack").map((a) => a.status).sort()).toEqual([202, 202]);
      expect(anonymous.find((a) => a.type === "error")).toMatchObject({
        status: 400,
        errors: [{ field: "body", message: "malformed JSON" }],
      });
      expect(bySeq(5)[0]).toMatchObject({ type: "error", status: 400 });
      expect(bySeq(6)[0]).toMatchObject({ type: "ack", status: 202 });
      // Unparsable frames are refused before any event is known: they count nothing.
      const counted = { accepted: 6, duplicate: 1, "rejected/deviceId": 1 };
      expect(await wsCounts(server.url)).toEqual(counted);
      c.ws.send(JSON.stringify({ seq: 7, events: [ev("i6")], idempotencyKey: "k-1" }));
      const [replay] = (await c.until(7)).filter((a) => a.seq === 7);
      expect(replay).toMatchObject({ type: "ack", status: 202, replayed: true, body: bySeq(6)[0].body });
      expect(await wsCounts(server.url)).toEqual(counted); // an idempotent replay counts nothing

      // Durable when acked: kill right after the ack, restart, read the events back.
      c.ws.send(JSON.stringify({ seq: 8, events: [ev("k1"), ev("k2")] }));
      const [ack] = (await c.until(8)).filter((a) => a.seq === 8);
      expect(ack.type).toBe("ack");
      await server.kill("SIGKILL");
      server = await startServer(runtime, env, { port: server.port });
      for (const id of ["i1", "i2", "i3", "i4", "i5", "i6", "k1", "k2"]) {
        const res = await fetch(`${server.url}/v1/events/${id}`, { headers: { "x-api-key": KEY } });
        expect(res.status, id).toBe(200);
      }
    } finally {
      await server.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses frames beyond the in-flight window instead of buffering them, and checks auth", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-wsb-"));
    const server = await startServer(runtime, {
      DATABASE_URL: `file:${join(dir, "b.db")}`,
      BOOTSTRAP_API_KEY: KEY,
      LOG_LEVEL: "error",
    });
    try {
      const url = `${server.url.replace("http", "ws")}/v1/ingest`;
      const c = await open(url);
      const frames = 200;
      for (let f = 0; f < frames; f++) {
        c.ws.send(JSON.stringify({
          seq: f,
          events: Array.from({ length: 50 }, (_, i) => ({ deviceId: `d${i}`, eventType: "t", value: f })),
        }));
      }
      const answers = await c.until(frames);
      expect(answers).toHaveLength(frames);
      const refused = answers.filter((a) => a.type === "error");
      const acked = answers.filter((a) => a.type === "ack");
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.every((a) => a.status === 503 && /in flight/.test(a.message!))).toBe(true);
      expect(new Set(answers.map((a) => a.seq)).size).toBe(frames);
      const health = await (await fetch(`${server.url}/health`)).json();
      expect(health.store.events).toBe(acked.length * 50);
      expect(await wsCounts(server.url)).toEqual({
        accepted: acked.length * 50,
        overloaded: refused.length * 50,
      });
      c.ws.close();

      await expect(open(url, {})).rejects.toThrow("HTTP 401");
      const created = await fetch(`${server.url}/v1/admin/keys`, {
        method: "POST",
        headers: { "x-api-key": KEY, "content-type": "application/json" },
        body: JSON.stringify({ name: "reader", scopes: ["read"] }),
      });
      const reader = (await created.json()).data.key;
      await expect(open(url, { "x-api-key": reader })).rejects.toThrow("HTTP 403");
    } finally {
      await server.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("counts frames over MAX_EVENTS_PER_REQUEST as too_large and rate-limited frames as rate_limited", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-wsr-"));
    const server = await startServer(runtime, {
      DATABASE_URL: `file:${join(dir, "r.db")}`,
      BOOTSTRAP_API_KEY: KEY,
      LOG_LEVEL: "error",
      MAX_EVENTS_PER_REQUEST: "5",
      RATE_LIMIT_EVENTS_PER_SEC: "1",
      RATE_LIMIT_BURST: "8",
    });
    try {
      const c = await open(`${server.url.replace("http", "ws")}/v1/ingest`);
      const frame = (seq: number, n: number) =>
        JSON.stringify({
          seq,
          events: Array.from(
            { length: n },
            (_, i) => ({ id: `r${seq}-${i}`, deviceId: "d", eventType: "t" }),
          ),
        });
      c.ws.send(frame(1, 5)); // 5 of the 8-event bucket
      expect((await c.until(1))[0]).toMatchObject({ seq: 1, type: "ack", status: 202 });
      c.ws.send(frame(2, 6)); // more than 5 events in one frame
      c.ws.send(frame(3, 5)); // 5 > the 3 tokens left (1/s refill: at most 2 more within the test)
      const answers = await c.until(3);
      expect(answers.find((a) => a.seq === 2)).toMatchObject({
        type: "error",
        status: 413,
        errors: [{ field: "events" }],
      });
      expect(answers.find((a) => a.seq === 3)).toMatchObject({ type: "error", status: 429 });
      expect(await wsCounts(server.url)).toEqual({ accepted: 5, "rejected/too_large": 6, rate_limited: 5 });
      c.ws.close();
    } finally {
      await server.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
