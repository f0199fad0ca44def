/**
 * Crash safety: concurrent clients post single events and batches (with
 * duplicates and server-generated ids) while the server is SIGKILLed and
 * restarted several times. Afterwards every id that got a 202 must be stored
 * exactly once with the exact payload that was sent, and the stored rollups
 * must equal a recomputation from the stored events (kills land between and
 * during rollup flushes, which run every 100 ms here).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectRollupsMatchEvents } from "../backend/testing/rollup-check.ts";
import { openStoreFile, type Runtime, type ServerProcess, startServer } from "./server-process.ts";

const KEY = "crash-test-key-0123456789abcdef";
const KILLS = 4;
const CLIENTS = 6;

interface SentEvent {
  id?: string;
  deviceId: string;
  eventType: string;
  value: number;
  timestamp: number;
  metadata: Record<string, string | number | boolean>;
  data?: Record<string, unknown>;
}

/** The payload for a client id is a pure function of the id, so a retry resends identical bytes. */
function payloadFor(id: string, base: number): SentEvent {
  const n = Number(id.split("-").pop());
  return {
    id,
    deviceId: `dev-${n % 13}`,
    eventType: n % 2 ? "temperature" : "pressure",
    value: n * 0.25,
    timestamp: base + n,
    metadata: { client: id.split("-")[1], even: n % 2 === 0 },
    data: n % 5 === 0 ? { note: `payload ${id}`, list: [n, n + 1] } : undefined,
  };
}

describe.each(["deno", "node"] as Runtime[])("crash safety under SIGKILL (%s)", (runtime) => {
  it(`loses and duplicates nothing acknowledged across ${KILLS} kills`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-crash-"));
    const url = `file:${join(dir, "crash.db")}`;
    const env = { DATABASE_URL: url, BOOTSTRAP_API_KEY: KEY, LOG_LEVEL: "error", ROLLUP_FLUSH_MS: "100" };
    const base = Date.now() - 60_000;
    let server: ServerProcess = await startServer(runtime, env);
    const port = server.port;
    const acked = new Map<string, SentEvent>();
    let generatedAcked = 0;
    let requestsOk = 0;
    let requestsFailed = 0;
    let running = true;

    async function post(body: unknown): Promise<Record<string, unknown> | null> {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/v1/events`, {
          method: "POST",
          headers: { "x-api-key": KEY, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        const json = await res.json();
        if (res.status !== 202) {
          requestsFailed++;
          return null;
        }
        requestsOk++;
        return json;
      } catch {
        requestsFailed++;
        await new Promise((r) => setTimeout(r, 20));
        return null;
      }
    }

    async function client(c: number) {
      let n = 0;
      while (running) {
        const kind = n % 3;
        if (kind === 0) {
          const ev = payloadFor(`c-${c}-${n++}`, base);
          const res = await post(ev);
          if (res) acked.set(ev.id!, ev);
        } else if (kind === 1) {
          // A batch of new ids plus replays of earlier ids (which may or may not have been acknowledged).
          const events = Array.from({ length: 40 }, () => payloadFor(`c-${c}-${n++}`, base));
          for (let r = 0; r < 10 && n > 50; r++) {
            events.push(payloadFor(`c-${c}-${Math.floor(Math.random() * (n - 1))}`, base));
          }
          const res = await post(events);
          if (res) {
            const results = (res.data as { results: { id: string; status: string }[] }).results;
            results.forEach((r, i) => {
              expect(r.status === "accepted" || r.status === "duplicate").toBe(true);
              acked.set(r.id, events[i]);
            });
          }
        } else {
          // Server-generated ids: the response tells which id was stored.
          const ev: SentEvent = {
            deviceId: `gen-${c}`,
            eventType: "count",
            value: n++,
            timestamp: base,
            metadata: { g: true },
          };
          const res = await post(ev);
          if (res) {
            acked.set((res.data as { id: string }).id, ev);
            generatedAcked++;
          }
        }
      }
    }

    const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
    try {
      for (let k = 0; k < KILLS; k++) {
        await new Promise((r) => setTimeout(r, 600 + Math.random() * 600));
        await server.kill("SIGKILL");
        await new Promise((r) => setTimeout(r, 100));
        server = await startServer(runtime, env, { port });
      }
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      running = false;
      await Promise.all(clients);
      await server.kill("SIGKILL");
    }
    // One more start replays what the last kill left unflushed; a clean stop flushes it.
    server = await startServer(runtime, env, { port });
    expect(await server.kill("SIGTERM")).toBe(0);

    expect(requestsOk).toBeGreaterThan(100);
    expect(requestsFailed).toBeGreaterThan(0); // the kills really interrupted requests
    expect(generatedAcked).toBeGreaterThan(10);

    const store = await openStoreFile(url);
    try {
      for (const [id, sent] of acked) {
        const stored = await store.getEvent(id);
        expect(stored, `acknowledged event ${id} is stored`).not.toBeNull();
        expect({
          deviceId: stored!.deviceId,
          eventType: stored!.eventType,
          value: stored!.value,
          timestamp: stored!.timestamp,
          metadata: stored!.metadata,
          data: stored!.data ?? undefined,
        }).toEqual({
          deviceId: sent.deviceId,
          eventType: sent.eventType,
          value: sent.value,
          timestamp: sent.timestamp,
          metadata: sent.metadata,
          data: sent.data,
        });
      }
      // Exactly once: every stored row has a distinct id (the unique index), and the number of stored
      // client-id events never exceeds the distinct client ids ever sent.
      const all = await store.listEvents({ limit: 10_000_000 });
      const ids = all.map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBeGreaterThanOrEqual(acked.size);
      expect(await expectRollupsMatchEvents(store, [60_000, 3_600_000])).toBeGreaterThan(20);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
