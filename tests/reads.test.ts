/**
 * Reads isolated from ingestion, against the real server process (Deno and
 * Node): four of the largest metric answers allowed (6 days of minutes for
 * 1,000 devices, with a quantile: 64 MiB each, cut at METRICS_MAX_ANSWER_BYTES)
 * and an export, all from clients that never read. The server's RSS stays
 * bounded (the answers are pulled, never queued), further heavy reads of the
 * key get 429 and of anyone 503 (with Retry-After), a key over its read rate
 * gets 429 with RateLimit headers, single events are acknowledged with 202
 * throughout and every one of them is stored, and the stalled answers are cut
 * at READ_TIMEOUT_MS (logged; on Node the socket is closed at once, on Deno
 * once the client reads), which frees their slots.
 */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Runtime, startServer } from "./server-process.ts";

const ADMIN = "reads-test-admin-key-0123456789abcdef";
const DEVICES = 1000;
const EVENTS_PER_DEVICE = 20;
/** A payload per event, so that the export (about 25 MB) is far larger than what socket buffers hold. */
const PAD = "x".repeat(1024);
const DAY = 86_400_000;
/**
 * Growth of the server's RSS allowed while the five answers are stalled (measured: Deno +60 to
 * +150 MiB, Node +290 MiB with garbage not yet collected; the code before this bound built each
 * answer's 8.6 M aggregates in memory: several GiB).
 */
const RSS_GROWTH_BOUND_MIB = 400;
const TIMEOUT_MS = 20_000;

/** How many of the connections from these client ports to `serverPort` the server process still holds open. */
function heldByServer(pid: number, serverPort: number, clientPorts: number[]): number {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [local, remote] = [f[1].split(":")[1], f[2].split(":")[1]];
    if (local === hex(serverPort) && clientPorts.map(hex).includes(remote)) inodes.add(f[9]);
  }
  let held = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1])) held++;
    } catch {
      // closed meanwhile
    }
  }
  return held;
}

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

/** Sends `GET path` on a raw socket and never reads: the kernel's buffers fill, then the server's writes wait. */
function stalledGet(
  port: number,
  path: string,
  key: string,
): Promise<{ socket: Socket; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.pause();
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: ${key}\r\n\r\n`);
      const opened = Date.now();
      const closed = new Promise<number>((done) => socket.once("close", () => done(Date.now() - opened)));
      resolve({ socket, closed });
    });
    socket.once("error", reject);
  });
}

describe.each<Runtime>(["deno", "node"])("heavy reads beside ingestion (%s)", (runtime) => {
  it(
    "bounds memory, slots, rate and time of reads while every single event gets 202 and is stored",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "pulsestream-reads-"));
      const server = await startServer(runtime, {
        DATABASE_URL: `file:${join(dir, "r.db")}`,
        BOOTSTRAP_API_KEY: ADMIN,
        LOG_LEVEL: "warn",
        METRICS_MAX_SERIES: String(DEVICES),
        READ_MAX_CONCURRENT_PER_KEY: "4",
        READ_MAX_CONCURRENT: "5",
        READ_RATE_PER_SEC: "1",
        READ_RATE_BURST: "20",
        READ_TIMEOUT_MS: String(TIMEOUT_MS),
        RATE_LIMIT_EVENTS_PER_SEC: "1000000",
        RATE_LIMIT_BURST: "1000000",
      }, { timeoutMs: 60_000 });
      const sockets: Socket[] = [];
      try {
        const api = (path: string, key: string, init: RequestInit = {}) =>
          fetch(`${server.url}${path}`, {
            ...init,
            headers: { "x-api-key": key, "content-type": "application/json", ...init.headers },
          });
        const newKey = async (name: string) => {
          const res = await api("/v1/admin/keys", ADMIN, {
            method: "POST",
            body: JSON.stringify({ name, scopes: ["read", "ingest"] }),
          });
          expect(res.status).toBe(201);
          return (await res.json()).data.key as string;
        };
        const [reader, exporter, other, eager, checker] = await Promise.all(
          ["reader", "exporter", "other", "eager", "checker"].map(newKey),
        );

        // 1,000 devices with 20 readings each over the last 6 days.
        const now = Date.now();
        const start = now - 6 * DAY + 60_000;
        for (let batch = 0; batch < EVENTS_PER_DEVICE; batch++) {
          const events = Array.from({ length: DEVICES }, (_, d) => ({
            deviceId: `dev-${String(d).padStart(4, "0")}`,
            eventType: "temp",
            value: (d * 7 + batch * 13) % 100,
            timestamp: start + batch * 25_000_000 + d * 1000,
            data: { pad: PAD },
          }));
          const res = await api("/v1/events", ADMIN, { method: "POST", body: JSON.stringify(events) });
          expect(res.status).toBe(202);
        }

        // 8,640 points × 1,000 series × count,p95 = 17.3 M values (under METRICS_MAX_CELLS), 86 MB
        // of text: each answer is cut at 64 MiB.
        const heavy = `/v1/metrics?eventType=temp&from=now-6d&to=now&step=1m&groupBy=deviceId&agg=count,p95`;
        const probe = await api(`${heavy}&limit=2`, reader);
        expect(probe.status).toBe(200);
        expect((await probe.json()).series).toHaveLength(2);

        const rssBefore = rssMiB(server.child.pid!);
        const stalled: { socket: Socket; closed: Promise<number> }[] = [];
        for (let i = 0; i < 4; i++) stalled.push(await stalledGet(server.port, heavy, reader));
        const exportPath = `/v1/export?source=events&format=ndjson&from=now-7d`;
        stalled.push(await stalledGet(server.port, exportPath, exporter));
        sockets.push(...stalled.map((s) => s.socket));
        const attackStarted = Date.now();
        // Let the server start all five answers.
        await new Promise((r) => setTimeout(r, 1500));

        // Concurrency: the reader's fifth heavy read is 429, anyone's sixth in all 503, with Retry-After.
        const fifth = await api(heavy, reader);
        expect(fifth.status).toBe(429);
        expect(fifth.headers.get("retry-after")).toBe("1");
        expect((await fifth.json()).message).toMatch(/Too many reads in progress for this key/);
        const sixth = await api("/v1/events?limit=5", other);
        expect(sixth.status).toBe(503);
        expect(sixth.headers.get("retry-after")).toBe("1");
        await sixth.body?.cancel();
        // A light read still passes.
        expect((await api("/v1/metrics/latest?eventType=temp&limit=1", other)).status).toBe(200);

        // Read rate: a burst of 20, then 429 with Retry-After and RateLimit-*.
        const statuses: number[] = [];
        let limited: Response | null = null;
        for (let i = 0; i < 21; i++) {
          const res = await api("/v1/metrics/latest?eventType=temp&limit=1", eager);
          statuses.push(res.status);
          if (res.status === 429) limited = res;
          else await res.body?.cancel();
        }
        expect(statuses.filter((s) => s === 200)).toHaveLength(20);
        expect(statuses[20]).toBe(429);
        expect(limited!.headers.get("retry-after")).toBe("1");
        expect(limited!.headers.get("ratelimit-limit")).toBe("20");
        expect(limited!.headers.get("ratelimit-remaining")).toBe("0");
        expect((await limited!.json()).message).toMatch(/Read rate limit exceeded/);
        // Ingestion answers throughout; memory stays bounded.
        const acked: string[] = [];
        let maxRss = 0;
        for (let i = 0; i < 200; i++) {
          const id = `live-${i}`;
          const res = await api("/v1/events", checker, {
            method: "POST",
            body: JSON.stringify({ id, deviceId: "live", eventType: "ping", value: i }),
          });
          expect(res.status).toBe(202);
          await res.body?.cancel();
          acked.push(id);
          if (i % 20 === 0) maxRss = Math.max(maxRss, rssMiB(server.child.pid!));
        }
        maxRss = Math.max(maxRss, rssMiB(server.child.pid!));
        expect(Date.now() - attackStarted).toBeLessThan(TIMEOUT_MS); // all of it happened during the attack
        expect(maxRss - rssBefore).toBeLessThan(RSS_GROWTH_BOUND_MIB);

        // At READ_TIMEOUT_MS the five stalled answers are cut: no further byte is produced, it is
        // logged, and their slots are free again. On Node the server closes the sockets then (the
        // client, which does not read, cannot see it yet; the kernel still holds the unsent bytes). Deno.serve
        // has no way to close a connection whose write waits for the client: the socket is closed
        // once the client reads again (docs/CONFIGURATION.md, READ_TIMEOUT_MS).
        const ports = stalled.map((s) => s.socket.localPort!);
        expect(heldByServer(server.child.pid!, server.port, ports)).toBe(5);
        await new Promise((r) => setTimeout(r, TIMEOUT_MS - (Date.now() - attackStarted) + 1500));
        expect(heldByServer(server.child.pid!, server.port, ports)).toBe(runtime === "node" ? 0 : 5);
        // Reading now, each client gets the rest of what was written and then the end of a
        // connection whose answer is incomplete: no final chunk.
        const tails = await Promise.all(stalled.map(async ({ socket, closed }) => {
          let bytes = 0;
          let last = Buffer.alloc(0);
          socket.on("data", (d: Buffer) => {
            bytes += d.length;
            last = Buffer.concat([last, d]).subarray(-16);
          });
          socket.resume();
          await Promise.race([closed, new Promise((r) => setTimeout(r, 30_000))]);
          return { bytes, ended: socket.destroyed || socket.readableEnded, tail: last.toString("latin1") };
        }));
        for (const t of tails) {
          expect(t.ended).toBe(true);
          expect(t.tail.endsWith("0\r\n\r\n")).toBe(false);
          expect(t.bytes).toBeLessThan(64 * 2 ** 20);
        }
        await new Promise((r) => setTimeout(r, 200));
        const logged = (server.stdout() + server.stderr()).split("\n")
          .filter((l) => l.includes("read deadline passed"));
        expect(logged).toHaveLength(5);
        expect(logged.filter((l) => l.includes('"path":"/v1/metrics"'))).toHaveLength(4);
        const again = await api(`${heavy}&limit=3`, reader);
        expect(again.status).toBe(200);
        expect((await again.json()).series).toHaveLength(3);

        // Every acknowledged event is stored.
        const listed = await api("/v1/events?deviceId=live&limit=1000", checker);
        expect(listed.status).toBe(200);
        const ids = ((await listed.json()).data.events as { id: string }[]).map((e) => e.id).sort();
        expect(ids).toEqual([...acked].sort());
      } finally {
        for (const s of sockets) s.destroy();
        await server.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
