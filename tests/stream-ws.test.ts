/**
 * Live subscriptions over WebSocket against the real server under Deno and
 * Node: events arrive as JSON frames, `since=` resumes without gap or
 * duplicate, a peer that stops answering pings is dropped within two
 * heartbeat intervals, and a bad key is refused at the upgrade.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type Runtime, type ServerProcess, startServer } from "./server-process.ts";

const KEY = "ws-test-key-0123456789abcdef";

interface Frame {
  seq: number;
  type: string;
  data: Record<string, unknown>;
}

function connect(url: string, headers: Record<string, string> = { "x-api-key": KEY }) {
  const ws = new WebSocket(url, { headers });
  const frames: Frame[] = [];
  let binaryFrames = 0;
  ws.on("message", (data, isBinary) => {
    if (isBinary) binaryFrames++;
    frames.push(...[JSON.parse(String(data))].flat());
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return {
    ws,
    frames,
    opened,
    /** Frames that arrived as binary (browsers would get a Blob): must stay 0. */
    get binaryFrames() {
      return binaryFrames;
    },
    async until(n: number): Promise<Frame[]> {
      const deadline = Date.now() + 5000;
      while (frames.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      return frames;
    },
  };
}

for (const runtime of ["deno", "node"] as Runtime[]) {
  describe(`WebSocket live stream under ${runtime}`, () => {
    let dir: string;
    let server: ServerProcess;
    const wsUrl = (query = "") => `${server.url.replace("http", "ws")}/v1/stream${query}`;
    const post = (events: unknown[]) =>
      fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: { "x-api-key": KEY, "content-type": "application/json" },
        body: JSON.stringify(events),
      });
    const subscribers =
      async () => ((await (await fetch(`${server.url}/health`)).json()).live.subscribers as number);

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), `pulsestream-ws-${runtime}-`));
      server = await startServer(runtime, {
        DATABASE_URL: `file:${join(dir, "ws.db")}`,
        BOOTSTRAP_API_KEY: KEY,
        LOG_LEVEL: "error",
        LIVE_HEARTBEAT_MS: "500",
      });
    });
    afterAll(async () => {
      await server?.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    });

    it("delivers accepted events as JSON frames and resumes with since= without gap or duplicate", async () => {
      const a = connect(wsUrl("?deviceId=ws-a"));
      await a.opened;
      expect(
        (await post([{ id: "w1", deviceId: "ws-a", eventType: "t", value: 1 }, {
          id: "w2",
          deviceId: "ws-b",
          eventType: "t",
          value: 2,
        }])).status,
      ).toBe(202);
      const [first] = await a.until(1);
      expect(first).toMatchObject({ type: "event", data: { id: "w1", deviceId: "ws-a", value: 1 } });
      expect(first.seq).toBe(first.data.seq);
      a.ws.close();
      await post([{ id: "w3", deviceId: "ws-a", eventType: "t", value: 3 }]);
      const b = connect(wsUrl(`?deviceId=ws-a&since=${first.seq}`));
      await b.opened;
      await b.until(1);
      await post([{ id: "w4", deviceId: "ws-a", eventType: "t", value: 4 }]);
      const frames = await b.until(2);
      expect(frames.map((f) => f.data.id)).toEqual(["w3", "w4"]);
      expect([a.binaryFrames, b.binaryFrames]).toEqual([0, 0]);
      b.ws.close();
    });

    it("sends the same text frame to every subscriber of a batch", async () => {
      const subs = [connect(wsUrl("?deviceId=ws-same")), connect(wsUrl("?deviceId=ws-same"))];
      const raw: string[][] = [[], []];
      subs.forEach((s, i) => s.ws.on("message", (data, isBinary) => !isBinary && raw[i].push(String(data))));
      await Promise.all(subs.map((s) => s.opened));
      const batch = Array.from(
        { length: 5 },
        (_, i) => ({ id: `same-${i}`, deviceId: "ws-same", eventType: "t", value: i }),
      );
      expect((await post(batch)).status).toBe(202);
      const [one, two] = await Promise.all(subs.map((s) => s.until(5)));
      expect(one.map((f) => f.data.id)).toEqual(["same-0", "same-1", "same-2", "same-3", "same-4"]);
      expect(two.map((f) => f.seq)).toEqual(one.map((f) => f.seq));
      expect(raw[1]).toEqual(raw[0]);
      expect(subs.map((s) => s.binaryFrames)).toEqual([0, 0]);
      for (const s of subs) s.ws.close();
    });

    it("drops a peer that stops answering pings within two heartbeat intervals", async () => {
      const settle = Date.now() + 3000; // sockets of the previous test finish closing
      while ((await subscribers()) > 0 && Date.now() < settle) await new Promise((r) => setTimeout(r, 50));
      const before = await subscribers();
      expect(before).toBe(0);
      const c = connect(wsUrl());
      await c.opened;
      expect(await subscribers()).toBe(before + 1);
      // Stop reading the socket: pings go unanswered (the client never sees them).
      (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const deadline = Date.now() + 8000;
      while ((await subscribers()) > before && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await subscribers()).toBe(before);
      c.ws.terminate();
    });

    it("refuses the upgrade without a valid key, and accepts ?apiKey=", async () => {
      await expect(connect(wsUrl(), {}).opened).rejects.toThrow("HTTP 401");
      const q = connect(wsUrl(`?apiKey=${KEY}`), {});
      await q.opened;
      q.ws.close();
    });
  });
}
