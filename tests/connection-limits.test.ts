/**
 * Connection bounds against the real server under Deno and Node: sockets that
 * trickle header lines or never send a request are closed at
 * HEADERS_TIMEOUT_MS, sockets idle after a response at KEEP_ALIVE_TIMEOUT_MS,
 * and a connection over MAX_CONNECTIONS gets a 503 with Retry-After; during
 * each attack ingestion answers 202 and every acknowledged event is stored.
 */
import { connect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import type { Runtime, ServerProcess } from "./server-process.ts";
import { countStored, withServer } from "./server-scope.ts";

const KEY = "conn-limits-key-0123456789abcdef";

interface HeldSocket {
  socket: Socket;
  openedAt: number;
  /** ms from open to close, once closed. */
  closed: Promise<number>;
  received(): string;
}

function hold(port: number, onConnect: (s: Socket) => void = () => {}): Promise<HeldSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let data = "";
    socket.on("data", (d) => (data += d));
    socket.on("error", () => {}); // a reset is a close too
    socket.once("connect", () => {
      const openedAt = Date.now();
      const closed = new Promise<number>((res) => socket.once("close", () => res(Date.now() - openedAt)));
      onConnect(socket);
      resolve({ socket, openedAt, closed, received: () => data });
    });
    socket.once("error", reject);
  });
}

/** Writes one header line every `everyMs` until the socket closes (a slow-loris client). */
function trickle(socket: Socket, everyMs: number): void {
  socket.write("POST /v1/events HTTP/1.1\r\nHost: x\r\n");
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write(`X-Pad-${Date.now()}: a\r\n`);
  }, everyMs);
  socket.once("close", () => clearInterval(timer));
}

/** Posts `n` single events one after another; returns the ids answered 202. */
async function ingest(server: ServerProcess, prefix: string, n: number): Promise<string[]> {
  const accepted: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    const res = await fetch(`${server.url}/v1/events`, {
      method: "POST",
      headers: { "x-api-key": KEY, "content-type": "application/json" },
      body: JSON.stringify({ id, deviceId: "conn-dev", eventType: "t", value: i }),
    });
    if (res.status === 202) accepted.push(id);
    await res.arrayBuffer();
  }
  return accepted;
}

/** The value of one series of `GET /metrics`, or null when absent. */
async function metric(server: ServerProcess, series: string): Promise<number | null> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

describe.each(["deno", "node"] as Runtime[])("connection limits (%s)", (runtime) => {
  it("closes sockets that trickle header lines or send nothing at HEADERS_TIMEOUT_MS", async () => {
    await withServer(
      runtime,
      { key: KEY, env: { HEADERS_TIMEOUT_MS: "1500", KEEP_ALIVE_TIMEOUT_MS: "60000" } },
      async (server) => {
        const tricklers = await Promise.all(
          Array.from({ length: 100 }, () => hold(server.port, (s) => trickle(s, 200))),
        );
        const silent = await Promise.all(Array.from({ length: 50 }, () => hold(server.port)));
        const accepted = await ingest(server, "hdr", 20); // while the attack holds its sockets
        const held = [...tricklers, ...silent];
        const lifetimes = await Promise.all(held.map((h) => h.closed));
        expect(accepted).toHaveLength(20);
        // Every attacking socket was closed by the server, none before the timeout, none much after.
        expect(held.every((h) => h.socket.destroyed)).toBe(true);
        expect(Math.min(...lifetimes)).toBeGreaterThanOrEqual(1400);
        expect(Math.max(...lifetimes)).toBeLessThan(1500 + 3000);
        // No request of theirs reached the app: nothing but (on Node) a 408 came back.
        for (const h of held) expect(h.received()).toMatch(/^(|HTTP\/1\.1 408 Request Timeout[^]*)$/);
        expect(await countStored(server, KEY, accepted)).toBe(20);
        expect(server.stderr()).toMatch(/"msg":"connections closed","reason":"header_timeout"/);
        expect(await metric(server, 'pulsestream_connections_closed_total{reason="header_timeout"}')).toBe(
          150,
        );
      },
    );
  });

  it("closes a keep-alive socket idle for KEEP_ALIVE_TIMEOUT_MS after its response", async () => {
    await withServer(
      runtime,
      { key: KEY, env: { HEADERS_TIMEOUT_MS: "60000", KEEP_ALIVE_TIMEOUT_MS: "1000" } },
      async (server) => {
        const idle = await Promise.all(
          Array.from(
            { length: 30 },
            () => hold(server.port, (s) => s.write("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")),
          ),
        );
        const lifetimes = await Promise.all(idle.map((h) => h.closed));
        for (const h of idle) expect(h.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
        expect(Math.min(...lifetimes)).toBeGreaterThanOrEqual(900);
        expect(Math.max(...lifetimes)).toBeLessThan(1000 + 3000);
      },
    );
  });

  it("answers 503 with Retry-After over MAX_CONNECTIONS and accepts again once sockets close", async () => {
    await withServer(
      runtime,
      { key: KEY, env: { MAX_CONNECTIONS: "40", HEADERS_TIMEOUT_MS: "60000" } },
      async (server) => {
        // This process's own keep-alive connection (from start-up) may hold one of the 40, so the
        // last of these may already be refused: hold 40 and count those the server kept.
        const attempts = await Promise.all(Array.from({ length: 40 }, () => hold(server.port)));
        await new Promise((r) => setTimeout(r, 300)); // the server has counted (or refused) them
        const held = attempts.filter((h) => !h.socket.destroyed);
        expect(held.length).toBeGreaterThanOrEqual(38);
        for (const h of attempts.filter((a) => a.socket.destroyed)) {
          expect(h.received()).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
        }
        const over = await hold(server.port, (s) => s.write("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"));
        expect(await over.closed).toBeLessThan(3000);
        const [head, body] = over.received().split("\r\n\r\n");
        expect(head).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
        expect(head).toMatch(/\r\nRetry-After: 1(\r\n|$)/);
        expect(JSON.parse(body)).toEqual({
          status: "error",
          message: "The server holds 40 connections (MAX_CONNECTIONS); retry later",
          errors: [{ field: "connection", message: "too many connections" }],
        });
        expect(held.every((h) => !h.socket.destroyed)).toBe(true); // the held ones were not touched
        for (const h of held) h.socket.destroy();
        await Promise.all(held.map((h) => h.closed));
        await new Promise((r) => setTimeout(r, 200));
        const accepted = await ingest(server, "cap", 10);
        expect(accepted).toHaveLength(10);
        expect(await countStored(server, KEY, accepted)).toBe(10);
        expect(server.stderr()).toMatch(/"msg":"connections closed","reason":"refused"/);
        const refused = attempts.length - held.length + 1;
        expect(await metric(server, 'pulsestream_connections_closed_total{reason="refused"}')).toBe(refused);
      },
    );
  });
});
