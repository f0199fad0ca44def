/**
 * `/readyz` reflects failing writes: another process holds the database's write lock, so every
 * commit of the real server fails (after SQLite's busy timeout) while reads still answer. Until a
 * commit succeeds again, readiness is 503 with the `writes` check failing; nothing refused is stored.
 */
import { createClient } from "@libsql/client";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Runtime, type ServerProcess, startServer } from "./server-process.ts";

const KEY = "readyz-writes-key-0123456789";
let dir = "";
let server: ServerProcess | null = null;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "pulsestream-readyz-"));
});
afterEach(async () => {
  await server?.kill("SIGKILL");
  server = null;
  rmSync(dir, { recursive: true, force: true });
});

const post = (id: string) =>
  fetch(`${server!.url}/v1/events`, {
    method: "POST",
    headers: { "x-api-key": KEY, "content-type": "application/json" },
    body: JSON.stringify({ id, deviceId: "d", eventType: "t", value: 1 }),
  });
const readyz = async () => {
  const res = await fetch(`${server!.url}/readyz`);
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
};

const runtimes: Runtime[] = ["deno", "node"];
for (const runtime of runtimes) {
  describe(`/readyz while every write fails (${runtime})`, () => {
    it("answers 503 with the writes check failing until a commit succeeds again", async () => {
      const path = join(dir, "ready.db");
      server = await startServer(runtime, {
        DATABASE_URL: `file:${path}`,
        BOOTSTRAP_API_KEY: KEY,
        LOG_LEVEL: "silent",
        READYZ_WRITE_FAILURE_MS: "600000",
      });
      expect((await post("before")).status).toBe(202);
      expect((await readyz()).status).toBe(200);

      const other = createClient({ url: `file:${path}` });
      const lock = await other.transaction("write"); // BEGIN IMMEDIATE: the write lock, held
      try {
        const refused = await post("during");
        expect(refused.status).toBe(503);
        expect(refused.headers.get("retry-after")).toBe("1");
        const ready = await readyz();
        expect(ready.status).toBe(503);
        expect(ready.retryAfter).toBe("1");
        expect(ready.body.status).toBe("unavailable");
        expect(ready.body.checks.store.status).toBe("ok"); // reads still work: the old check passed
        expect(ready.body.checks.writes.status).toBe("failing");
        expect(ready.body.checks.writes.reason).toMatch(/^the last commit failed \d+ ms ago$/);
      } finally {
        await lock.rollback();
        other.close();
      }

      // Readiness agrees with the writes: 200 once a commit succeeded, 503 while they still fail.
      const after = await post("after");
      const recovered = await readyz();
      expect(after.status).toBe(202);
      expect(recovered.status).toBe(200);
      expect(recovered.body.checks.writes).toEqual({ status: "ok", durationMs: expect.any(Number) });
      const listed =
        await (await fetch(`${server.url}/v1/events?deviceId=d`, { headers: { "x-api-key": KEY } }))
          .json();
      expect(listed.data.events.map((e: { id: string }) => e.id).sort()).toEqual(["after", "before"]);
    });
  });
}
