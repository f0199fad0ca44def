/**
 * Bulk import over time: waiting for the rate limit and a full commit queue (and giving up), line
 * and body limits, progress while the upload runs, and jobs kept across a restart. Formats and
 * validation: `import-api.test.ts`.
 */
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { INTERRUPTED } from "../import/import-service.ts";
import { createSqliteStore } from "../store/sqlite/sqlite-store.ts";
import {
  ID,
  jobOf,
  NDJSON,
  ndjson,
  NOW,
  openStream,
  overloadedFor,
  withImport,
} from "../testing/import-fixture.ts";

describe("POST /v1/import: flow control", () => {
  it("waits for the key's rate limit instead of failing", async () => {
    await withImport(async ({ post, sleeps }) => {
      const lines = ndjson(
        Array.from({ length: 50 }, (_, i) => ({ deviceId: "d", eventType: "t", value: i })),
      );
      expect(await jobOf(await post(lines, NDJSON))).toMatchObject({ accepted: 50, state: "completed" });
      expect(sleeps).toEqual([2000, 1000]);
    }, { env: { RATE_LIMIT_EVENTS_PER_SEC: "10", RATE_LIMIT_BURST: "20", MAX_EVENTS_PER_REQUEST: "20" } });
  });

  it("waits out a full commit queue with exponential backoff and then stores every event", async () => {
    let refusals = 4;
    const committed: number[] = [];
    await withImport(async ({ f, post, sleeps }) => {
      const lines = ndjson(
        Array.from({ length: 30 }, (_, i) => ({ deviceId: "d", eventType: "t", value: i })),
      );
      expect(await jobOf(await post(lines, NDJSON))).toMatchObject({
        accepted: 30,
        rejected: 0,
        state: "completed",
      });
      expect(sleeps).toEqual([10, 20, 40, 80]);
      expect(committed).toEqual([10, 10, 10]);
      expect((await f.server.store.stats()).events).toBe(30);
    }, {
      env: { MAX_EVENTS_PER_REQUEST: "10" },
      committer: (real) =>
        overloadedFor(real, (events) => {
          if (refusals-- > 0) return true;
          if (events.length > 0) committed.push(events.length);
          return false;
        }),
    });
  });

  it("answers 503 and fails the job when the commit queue stays full for 5 minutes", async () => {
    await withImport(async ({ f, post, request, sleeps }) => {
      const res = await post(ndjson([{ deviceId: "d", eventType: "t", value: 1 }]), NDJSON);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect((await res.json()).message).toBe("Server is overloaded; retry later");
      const job = await jobOf(await request(`/v1/import/${res.headers.get("import-id")}`));
      expect(job).toMatchObject({
        accepted: 0,
        lines: 1,
        state: "failed",
        failure: "Server is overloaded; retry later",
      });
      expect(sleeps.slice(0, 9)).toEqual([10, 20, 40, 80, 160, 320, 640, 1280, 2000]);
      expect(sleeps.reduce((a, b) => a + b, 0)).toBe(300_550); // the first wait that reaches 5 min
      expect((await f.server.store.stats()).events).toBe(0);
    }, { committer: (real) => overloadedFor(real, () => true) });
  });

  it("refuses a line over 1 MiB with 413", async () => {
    await withImport(async ({ post }) => {
      const long = JSON.stringify({ deviceId: "d", eventType: "t", data: { s: "x".repeat(1024 * 1024) } });
      const res = await post(`{"deviceId":"d","eventType":"t"}\n${long}\n`, NDJSON);
      expect(res.status).toBe(413);
      expect((await res.json()).message).toBe("Line 2 is longer than 1048576 bytes");
    });
  });
});

describe("GET /v1/import/:id", () => {
  it("reports progress while the upload runs, then the finished job", async () => {
    await withImport(async ({ post, request }) => {
      const line = (i: number) => `{"deviceId":"d","eventType":"t","value":${i}}\n`;
      const body = openStream([line(1), line(2), "{oops}\n"]);
      const pending = post(body.stream, { ...NDJSON, "import-id": ID });
      let progress: Record<string, unknown> = {};
      for (let i = 0; i < 200 && progress.accepted !== 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const res = await request(`/v1/import/${ID}`);
        if (res.status === 200) progress = await jobOf(res);
      }
      expect(progress).toMatchObject({
        id: ID,
        state: "running",
        lines: 3,
        accepted: 2,
        rejected: 1,
        bytesRead: line(1).length * 2 + 7,
        finishedAt: null,
      });
      expect(progress.errors).toEqual([{ line: 3, field: "event", message: "line is not valid JSON" }]);
      body.send(line(3));
      body.close();
      const done = await pending;
      expect(done.status).toBe(201);
      expect(await jobOf(await request(`/v1/import/${ID}`))).toMatchObject({
        state: "completed",
        lines: 4,
        accepted: 3,
        rejected: 1,
      });
    }, { env: { MAX_EVENTS_PER_REQUEST: "3" } });
  });

  it("fails the job with 408 when the client stops sending", async () => {
    await withImport(async ({ post, request }) => {
      const body = openStream(['{"deviceId":"d","eventType":"t"}\n']);
      const res = await post(body.stream, { ...NDJSON, "import-id": ID });
      expect(res.status).toBe(408);
      expect(res.headers.get("import-id")).toBe(ID);
      expect(await jobOf(await request(`/v1/import/${ID}`))).toMatchObject({
        state: "failed",
        lines: 0,
        failure: "Request body not received within 200 ms",
      });
    }, { env: { REQUEST_TIMEOUT_MS: "200" } });
  });

  it("keeps jobs in the store across reopening, and reports one cut off by a restart as failed", async () => {
    await withImport(async ({ f, post, request }) => {
      await post('{"deviceId":"d","eventType":"t"}\n', { ...NDJSON, "import-id": ID });
      // The server's own SQLite library: two libraries on one WAL file in one process drop each
      // other's POSIX locks.
      const other = await createSqliteStore({
        driver: await openSqlDriver(f.config.databaseUrl, { ...f.config.sqlite, preference: "auto" }),
      });
      try {
        expect(await other.getImportJob(ID)).toMatchObject({
          state: "completed",
          accepted: 1,
          keyId: expect.stringMatching(/^key_/),
        });
        const cut = "imp_ffffffffffffffffffffffffffffffff";
        await other.saveImportJob({
          ...(await other.getImportJob(ID))!,
          id: cut,
          state: "running",
          updatedAt: NOW + 5,
          finishedAt: null,
        });
        expect(await jobOf(await request(`/v1/import/${cut}`))).toMatchObject({
          state: "failed",
          failure: INTERRUPTED,
          finishedAt: "2026-11-22T12:00:00.005Z",
        });
      } finally {
        await other.close();
      }
      expect((await request("/v1/import/imp_00000000000000000000000000000000")).status).toBe(404);
    });
  });
});
