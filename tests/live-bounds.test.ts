/**
 * Live subscribers under attack, against the real server: SSE and WebSocket
 * clients that subscribe and never read while events pour in are closed by
 * the server (its RSS stays under a bound, readers get every event, ingest
 * keeps answering 202); a revoked key's open streams close within 1 s; the
 * per-key cap counts connections actually held.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type Runtime, type ServerProcess, startServer } from "./server-process.ts";
import { peakRssMiB, sseClient, type StalledClient, stalledClient } from "./live-clients.ts";

const ADMIN = "live-bounds-admin-key-0123456789";
const STALLED_PER_KIND = 10;
const EVENTS = 6000;
const PER_REQUEST = 50;
/** ~2 KB per event: a stalled socket's kernel buffers (~4 MB here) fill in a second or two. */
const PAYLOAD = "p".repeat(2000);

async function createKey(server: ServerProcess, scopes: string[], expiresAt?: number) {
  const res = await fetch(`${server.url}/v1/admin/keys`, {
    method: "POST",
    headers: { "x-api-key": ADMIN, "content-type": "application/json" },
    body: JSON.stringify({ name: `k${Math.random()}`, scopes, ...(expiresAt ? { expiresAt } : {}) }),
  });
  expect(res.status).toBe(201);
  const { data } = await res.json();
  return { id: data.id as string, secret: data.key as string };
}

function wsReader(url: string, key: string) {
  const ws = new WebSocket(url, { headers: { "x-api-key": key } });
  const seqs: number[] = [];
  /** Messages other than events (a `lagged` one says the server skipped this reader ahead). */
  const others: { type: string }[] = [];
  let close: { code: number; reason: string } | null = null;
  ws.on("message", (data) => {
    for (const m of [JSON.parse(String(data))].flat()) {
      if (m.type === "event") seqs.push(m.seq);
      else others.push(m);
    }
  });
  ws.on("close", (code, reason) => (close = { code, reason: String(reason) }));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return {
    ws,
    seqs,
    others,
    opened,
    get close() {
      return close;
    },
  };
}

const waitFor = async (pred: () => boolean | Promise<boolean>, ms: number) => {
  const deadline = Date.now() + ms;
  while (!(await pred()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return pred();
};

for (const runtime of ["deno", "node"] as Runtime[]) {
  describe(`live subscribers under attack (${runtime})`, () => {
    let dir: string;
    let server: ServerProcess;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), `pulsestream-live-${runtime}-`));
      server = await startServer(runtime, {
        DATABASE_URL: `file:${join(dir, "live.db")}`,
        BOOTSTRAP_API_KEY: ADMIN,
        LOG_LEVEL: "warn",
        LIVE_HEARTBEAT_MS: "1000",
        LIVE_MAX_BUFFERED_BYTES: String(2 * 1024 * 1024),
        LIVE_MAX_TOTAL_BUFFERED_BYTES: String(16 * 1024 * 1024),
        LIVE_SEND_TIMEOUT_MS: "3000",
        LIVE_CLOSE_GRACE_MS: "500",
        LIVE_MAX_SUBSCRIBERS_PER_KEY: "12",
        RATE_LIMIT_EVENTS_PER_SEC: "1000000",
        RATE_LIMIT_BURST: "1000000",
      });
    }, 60_000);
    afterAll(async () => {
      await server?.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    });

    it(
      "closes every subscriber that never reads, keeps RSS bounded, and readers get every event",
      async () => {
        const ingest = await createKey(server, ["ingest"]);
        const keys = [await createKey(server, ["read"]), await createKey(server, ["read"])];
        const stalled: StalledClient[] = [];
        for (let i = 0; i < STALLED_PER_KIND; i++) {
          for (const kind of ["sse", "ws"] as const) {
            stalled.push(await stalledClient(server.port, kind, keys[i % 2].secret));
          }
        }
        expect(stalled.map((s) => s.status.split(" ")[1])).toEqual(
          Array.from({ length: 2 * STALLED_PER_KIND }, (_, i) => (i % 2 === 0 ? "200" : "101")),
        );
        const sse = await sseClient(`${server.url}/v1/stream/sse`, keys[0].secret);
        const ws = wsReader(`${server.url.replace("http", "ws")}/v1/stream`, keys[1].secret);
        await ws.opened;
        const rssBefore = await peakRssMiB(server.child.pid!);

        const statuses = new Map<number, number>();
        let sent = 0;
        const post = async () => {
          while (sent < EVENTS) {
            const from = sent;
            sent += PER_REQUEST;
            const events = Array.from({ length: PER_REQUEST }, (_, i) => ({
              id: `ev-${from + i}`,
              deviceId: `d${(from + i) % 20}`,
              eventType: "load",
              value: from + i,
              data: { payload: PAYLOAD },
            }));
            const res = await fetch(`${server.url}/v1/events`, {
              method: "POST",
              headers: { "x-api-key": ingest.secret, "content-type": "application/json" },
              body: JSON.stringify(events),
            });
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            await res.arrayBuffer();
          }
        };
        await Promise.all([post(), post(), post()]);
        expect(statuses).toEqual(new Map([[202, EVENTS / PER_REQUEST]]));

        // Readers get every event exactly once, in order.
        const events = () => sse.frames.filter((f) => f.event === "event");
        // A lag means missed events: no need to wait for them.
        await waitFor(
          () => (events().length >= EVENTS && ws.seqs.length >= EVENTS) || ws.others.length > 0,
          30_000,
        );
        const others = sse.frames.filter((f) => f.event !== "event");
        expect({ sse: events().length, ws: ws.seqs.length, others, wsOthers: ws.others, wsClose: ws.close })
          .toEqual({ sse: EVENTS, ws: EVENTS, others: [], wsOthers: [], wsClose: null });
        const sseSeqs = events().map((f) => Number(f.id));
        expect(sseSeqs).toHaveLength(EVENTS);
        expect(new Set(sseSeqs).size).toBe(EVENTS);
        expect(ws.seqs).toEqual(sseSeqs);
        expect(sse.frames.some((f) => f.event === "lagged")).toBe(false);

        // Every stalled subscriber was closed by the server, with one log line each.
        const closedLines = () =>
          server.stdout().concat(server.stderr()).split("\n").filter((l) =>
            l.includes('"live subscriber closed"')
          );
        await waitFor(() => closedLines().length >= stalled.length, 15_000);
        const lines = closedLines().map((l) => JSON.parse(l));
        expect(lines).toHaveLength(stalled.length);
        for (const line of lines) {
          expect([
            "subscriber too slow",
            "subscriber not reading",
            "live buffers full",
            "peer not answering pings",
          ])
            .toContain(line.reason);
          expect([keys[0].id, keys[1].id]).toContain(line.keyId);
        }
        // Once a stalled client reads again it gets what was already in flight, then the end:
        // a connection left half-alive would keep streaming (and pinging) instead.
        const drained = await Promise.all(stalled.map((s) => s.drain(20_000)));
        expect(drained.map((d) => d.closed)).toEqual(stalled.map(() => true));
        for (const d of drained) expect(d.bytes).toBeLessThan(12 * 1024 * 1024);
        // Closes leave the count a few per loop turn (live-hub.ts): read it once they have settled.
        let health = await (await fetch(`${server.url}/health`)).json();
        for (let i = 0; i < 50 && health.live.subscribers !== 2; i++) {
          await new Promise((r) => setTimeout(r, 100));
          health = await (await fetch(`${server.url}/health`)).json();
        }
        expect(health.live.subscribers).toBe(2); // the two readers
        expect(health.live.closed).toBe(stalled.length);

        // Peak RSS: the stalled clients cost the server little beyond the events themselves.
        const peak = await peakRssMiB(server.child.pid!);
        expect(peak - rssBefore).toBeLessThan(300);
        await sse.close();
        ws.ws.close();
      },
      180_000,
    );

    it("closes a revoked key's SSE and WebSocket streams within 1 s, and an expired key's", async () => {
      const key = await createKey(server, ["read"]);
      const expiring = await createKey(server, ["read"], Date.now() + 2500);
      const sse = await sseClient(`${server.url}/v1/stream/sse`, key.secret);
      const ws = wsReader(`${server.url.replace("http", "ws")}/v1/stream`, key.secret);
      const sseExpiring = await sseClient(`${server.url}/v1/stream/sse`, expiring.secret);
      const wsExpiring = wsReader(`${server.url.replace("http", "ws")}/v1/stream`, expiring.secret);
      await Promise.all([ws.opened, wsExpiring.opened]);
      const revoked = await fetch(`${server.url}/v1/admin/keys/${key.id}`, {
        method: "DELETE",
        headers: { "x-api-key": ADMIN },
      });
      expect(revoked.status).toBe(200);
      const t0 = Date.now();
      expect(await waitFor(() => sse.ended && ws.close !== null, 3000)).toBe(true);
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(sse.frames.at(-1)).toEqual({ event: "close", data: { reason: "API key has been revoked" } });
      expect(ws.close).toEqual({ code: 4008, reason: "API key has been revoked" });
      // The expiring key's streams were open until it expired, and close within 1 s after.
      expect(sseExpiring.ended).toBe(false);
      expect(await waitFor(() => sseExpiring.ended && wsExpiring.close !== null, 5000)).toBe(true);
      expect(wsExpiring.close).toEqual({ code: 4008, reason: "API key has expired" });
    }, 30_000);

    it(
      "holds the per-key cap: the next subscriber is refused with 429 while the others are held",
      async () => {
        const key = await createKey(server, ["read"]);
        const held: StalledClient[] = [];
        for (let i = 0; i < 12; i++) {
          held.push(await stalledClient(server.port, i % 2 ? "ws" : "sse", key.secret));
        }
        for (const kind of ["sse", "ws"] as const) {
          const refused = await stalledClient(server.port, kind, key.secret);
          expect(refused.status).toBe("HTTP/1.1 429 Too Many Requests");
          refused.socket.destroy();
        }
        // Another key is not affected; a closed connection frees its slot.
        const other = await createKey(server, ["read"]);
        const fine = await stalledClient(server.port, "sse", other.secret);
        expect(fine.status).toBe("HTTP/1.1 200 OK");
        fine.socket.destroy();
        held.shift()!.socket.destroy();
        held.shift()!.socket.destroy();
        const retry = async () => {
          const c = await stalledClient(server.port, "ws", key.secret);
          c.socket.destroy();
          return c.status === "HTTP/1.1 101 Switching Protocols";
        };
        expect(await waitFor(retry, 5000)).toBe(true);
        for (const c of held) c.socket.destroy();
      },
      30_000,
    );
  });
}
