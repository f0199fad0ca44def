/**
 * Overload against the real server: far more batch traffic than it can commit,
 * for a bounded time. Only 202/429/503 may come back, 503s carry Retry-After,
 * memory stays bounded, every 202 is stored, and service is normal afterwards.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { openStoreFile, startServer } from "./server-process.ts";

const KEY = "overload-test-key-0123456789abcdef";
const RSS_BOUND_MIB = 512;
const CLIENTS = 48;
const LOAD_MS = 4000;

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

it(`sheds overload with 429/503, keeps RSS under ${RSS_BOUND_MIB} MiB and stores every 202`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-overload-"));
  const url = `file:${join(dir, "o.db")}`;
  const server = await startServer("deno", {
    DATABASE_URL: url,
    BOOTSTRAP_API_KEY: KEY,
    LOG_LEVEL: "error",
    MAX_EVENTS_PER_REQUEST: "1000",
    COMMIT_MAX_BATCH_EVENTS: "1000",
    COMMIT_QUEUE_MAX_EVENTS: "3000",
    RATE_LIMIT_EVENTS_PER_SEC: "1000000000",
    RATE_LIMIT_BURST: "1000000000",
  });
  const statuses = new Map<number, number>();
  const accepted: string[] = [];
  let missingRetryAfter = 0;
  let maxRss = 0;
  const sampler = setInterval(() => (maxRss = Math.max(maxRss, rssMiB(server.child.pid!))), 100);
  const deadline = Date.now() + LOAD_MS;
  try {
    await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
      for (let n = 0; Date.now() < deadline; n++) {
        const events = Array.from({ length: 1000 }, (_, i) => ({
          id: `ov-${c}-${n}-${i}`,
          deviceId: `d${i % 50}`,
          eventType: "load",
          value: i,
          data: { pad: "x".repeat(64) },
        }));
        const res = await fetch(`${server.url}/v1/events`, {
          method: "POST",
          headers: { "x-api-key": KEY, "content-type": "application/json" },
          body: JSON.stringify(events),
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 503 && !res.headers.get("retry-after")) missingRetryAfter++;
        const body = await res.json();
        if (res.status === 202) {
          for (const r of body.data.results) if (r.status === "accepted") accepted.push(r.id);
        }
      }
    }));
    clearInterval(sampler);

    expect([...statuses.keys()].every((s) => s === 202 || s === 429 || s === 503)).toBe(true);
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(202) ?? 0).toBeGreaterThan(0);
    expect(missingRetryAfter).toBe(0);
    expect(maxRss).toBeLessThan(RSS_BOUND_MIB);

    // Recovers by itself once the load is gone.
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    const after = await fetch(`${server.url}/v1/events`, {
      method: "POST",
      headers: { "x-api-key": KEY, "content-type": "application/json" },
      body: JSON.stringify({ id: "after-load", deviceId: "d", eventType: "t" }),
    });
    expect(after.status).toBe(202);
    console.log(
      `overload: statuses ${JSON.stringify(Object.fromEntries(statuses))}, max RSS ${maxRss.toFixed(0)} MiB`,
    );
  } finally {
    clearInterval(sampler);
    await server.kill("SIGKILL");
  }

  const store = await openStoreFile(url);
  try {
    expect((await store.stats()).events).toBe(accepted.length + 1);
    for (const id of accepted.filter((_, i) => i % 97 === 0)) expect(await store.getEvent(id)).not.toBeNull();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it("rate-limits a key on the real server with exact token counts", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-ratelimit-"));
  const server = await startServer("deno", {
    DATABASE_URL: `file:${join(dir, "r.db")}`,
    BOOTSTRAP_API_KEY: KEY,
    LOG_LEVEL: "error",
    MAX_EVENTS_PER_REQUEST: "10",
    RATE_LIMIT_EVENTS_PER_SEC: "1",
    RATE_LIMIT_BURST: "10",
  });
  try {
    const post = (n: number) =>
      fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: { "x-api-key": KEY, "content-type": "application/json" },
        body: JSON.stringify(Array.from({ length: n }, () => ({ deviceId: "d", eventType: "t" }))),
      });
    const first = await post(8);
    expect(first.status).toBe(202);
    expect(first.headers.get("ratelimit-limit")).toBe("10");
    expect(first.headers.get("ratelimit-remaining")).toBe("2");
    const second = await post(5);
    expect(second.status).toBe(429);
    expect(Number(second.headers.get("retry-after"))).toBeGreaterThanOrEqual(2);
    expect(Number(second.headers.get("retry-after"))).toBeLessThanOrEqual(3);
    expect((await post(2)).status).toBe(202);
    const health = await (await fetch(`${server.url}/health`)).json();
    expect(health.store.events).toBe(10);
  } finally {
    await server.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
});
