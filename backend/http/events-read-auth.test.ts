/** Authentication, reads (GET /v1/events) and health. */
import { describe, expect, it } from "vitest";
import { hashApiKey } from "../auth/api-keys.ts";
import { FakeClock, storedCount, withApp } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const clock = () => new FakeClock(NOW);
const json = (value: unknown) => JSON.stringify(value);

describe("authentication", () => {
  it("answers 401 with distinct messages for missing, unknown, revoked and expired keys", async () => {
    const fake = clock();
    await withApp(async (f) => {
      const post = (key: string | null) =>
        f.request("/v1/events", { method: "POST", key, body: json({ deviceId: "d", eventType: "t" }) });
      const store = f.server.store;
      const base = {
        name: "k",
        scopes: ["ingest", "read"],
        createdAt: NOW,
        lastUsedAt: null,
        rateLimit: null,
      };
      await store.createApiKey({
        ...base,
        id: "k-revoked",
        keyHash: await hashApiKey("revoked-key-secret"),
        expiresAt: null,
        revokedAt: NOW,
      });
      await store.createApiKey({
        ...base,
        id: "k-expiring",
        keyHash: await hashApiKey("expiring-key-secret"),
        expiresAt: NOW + 1000,
        revokedAt: null,
      });
      const messages: [string | null, string][] = [
        [null, "Missing API key: send x-api-key or Authorization: Bearer <key>"],
        ["nope-not-a-key", "Invalid API key"],
        ["revoked-key-secret", "API key has been revoked"],
      ];
      for (const [key, message] of messages) {
        const res = await post(key);
        expect(res.status).toBe(401);
        expect((await res.json()).message).toBe(message);
      }
      expect((await post("expiring-key-secret")).status).toBe(202);
      fake.advance(1000);
      const expired = await post("expiring-key-secret");
      expect(expired.status).toBe(401);
      expect((await expired.json()).message).toBe("API key has expired");
      expect(await storedCount(f)).toBe(1);
    }, { clock: fake });
  });

  it("answers 403 to a valid key without the needed scope", async () => {
    await withApp(async (f) => {
      await f.server.store.createApiKey({
        id: "k-read",
        name: "reader",
        keyHash: await hashApiKey("read-only-secret-key"),
        scopes: ["read"],
        createdAt: NOW,
        lastUsedAt: null,
        expiresAt: null,
        revokedAt: null,
        rateLimit: null,
      });
      const res = await f.request("/v1/events", {
        method: "POST",
        key: "read-only-secret-key",
        body: json({ deviceId: "d", eventType: "t" }),
      });
      expect(res.status).toBe(403);
      expect((await res.json()).message).toBe("API key lacks the 'ingest' scope");
      expect((await f.request("/v1/events", { key: "read-only-secret-key" })).status).toBe(200);
      expect(await storedCount(f)).toBe(0);
    });
  });
});

describe("GET /v1/events", () => {
  async function seed(f: Parameters<Parameters<typeof withApp>[0]>[0]) {
    const events = Array.from({ length: 25 }, (_, i) => ({
      id: `e${String(i).padStart(2, "0")}`,
      deviceId: i % 2 ? "odd" : "even",
      eventType: i % 5 === 0 ? "alarm" : "temp",
      value: i,
      timestamp: NOW - 100_000 + Math.floor(i / 2) * 1000,
    }));
    expect((await f.request("/v1/events", { method: "POST", body: json(events) })).status).toBe(202);
  }

  it("pages newest first with a keyset cursor and no gaps or repeats", async () => {
    await withApp(async (f) => {
      await seed(f);
      const seen: string[] = [];
      let cursor: string | null = "";
      let pages = 0;
      while (cursor !== null) {
        const res = await f.request(`/v1/events?limit=10${cursor ? `&cursor=${cursor}` : ""}`);
        expect(res.status).toBe(200);
        const { data } = await res.json();
        seen.push(...data.events.map((e: { id: string }) => e.id));
        cursor = data.nextCursor;
        pages++;
      }
      expect(pages).toBe(3);
      // Equal timestamps are ordered by commit sequence, newest first.
      const expected = Array.from({ length: 25 }, (_, i) => i)
        .sort((a, b) => Math.floor(b / 2) - Math.floor(a / 2) || b - a)
        .map((i) => `e${String(i).padStart(2, "0")}`);
      expect(seen).toEqual(expected);
    }, { clock: clock() });
  });

  it("filters by device, type and time range", async () => {
    await withApp(async (f) => {
      await seed(f);
      const res = await f.request(
        `/v1/events?deviceId=even&eventType=alarm&from=${NOW - 100_000}&to=${
          new Date(NOW - 100_000 + 10_000).toISOString()
        }`,
      );
      const ids = (await res.json()).data.events.map((e: { id: string }) => e.id);
      expect(ids).toEqual(["e10", "e00"]);
      const relative = await f.request("/v1/events?from=now-95s&limit=1000");
      const relIds = (await relative.json()).data.events.map((e: { id: string }) => e.id);
      expect(relIds.length).toBe(15);
    }, { clock: clock() });
  });

  it("answers 400 to bad query parameters", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v1/events?limit=0&from=yesterday&cursor=zzz");
      expect(res.status).toBe(400);
      expect((await res.json()).errors).toEqual([
        { field: "limit", message: "must be an integer from 1 to 1000" },
        { field: "from", message: "from must be epoch ms, ISO-8601 or now-<n>(s|m|h|d|w)" },
        { field: "cursor", message: "cursor is not valid (pass nextCursor from a previous page)" },
      ]);
      const range = await f.request("/v1/events?from=2000&to=1000");
      expect((await range.json()).errors).toEqual([{ field: "from", message: "from must be before to" }]);
    });
  });

  it("answers 404 for an unknown event id", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v1/events/missing");
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        status: "error",
        message: 'No event with id "missing"',
        errors: [],
      });
    });
  });
});

describe("health, request ids and failures", () => {
  it("serves livez, readyz and health", async () => {
    await withApp(async (f) => {
      expect(await (await f.request("/livez")).json()).toEqual({ status: "ok" });
      const ready = await f.request("/readyz");
      expect(ready.status).toBe(200);
      expect((await ready.json()).checks.store.status).toBe("ok");
      const health = await (await f.request("/health")).json();
      expect(health).toMatchObject({ status: "ok", services: { database: "up" }, store: { events: 0 } });
    });
  });

  it("echoes a valid X-Request-Id and generates one otherwise", async () => {
    await withApp(async (f) => {
      const given = await f.request("/livez", { headers: { "x-request-id": "abc-123" } });
      expect(given.headers.get("x-request-id")).toBe("abc-123");
      const generated = await f.request("/livez", { headers: { "x-request-id": "bad id with spaces" } });
      expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  it("answers 503 with Retry-After and no internals when the store is gone", async () => {
    await withApp(async (f) => {
      await f.server.store.close();
      const res = await f.request("/v1/events", {
        method: "POST",
        body: json({ deviceId: "d", eventType: "t" }),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      const text = await res.text();
      expect(JSON.parse(text).message).toMatch(/unavailable|retry/i);
      expect(text).not.toMatch(/sqlite|libsql|at \w+ \(|\.ts:\d+/i);
      const ready = await f.request("/readyz");
      expect(ready.status).toBe(503);
    });
  });

  it("answers unknown routes with the error envelope", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v2/nothing");
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        status: "error",
        message: "No route for GET /v2/nothing",
        errors: [],
      });
    });
  });
});
