/**
 * Ingestion reads key records from a cache; these tests change keys behind the cache's back (as
 * the CLI or another instance would, straight in the store) and check that the commit-time key
 * check still refuses the very next request and stores nothing of it.
 */
import { describe, expect, it } from "vitest";
import { FakeClock, storedCount, withApp } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const event = (deviceId: string) => JSON.stringify({ deviceId, eventType: "t", value: 1 });

async function createKey(
  f: Parameters<Parameters<typeof withApp>[0]>[0],
  body: Record<string, unknown> = {},
): Promise<{ id: string; key: string }> {
  const res = await f.request("/v1/admin/keys", {
    method: "POST",
    body: JSON.stringify({ name: "fleet", scopes: ["ingest", "read"], ...body }),
  });
  expect(res.status).toBe(201);
  return (await res.json()).data;
}

describe("ingest key check at commit", () => {
  it("refuses a key revoked in the store behind the cache on its next request, storing nothing", async () => {
    await withApp(async (f) => {
      const key = await createKey(f);
      const post = (deviceId: string) =>
        f.request("/v1/events", { method: "POST", key: key.key, body: event(deviceId) });
      expect((await post("a")).status).toBe(202); // the key record is now cached
      await f.server.store.revokeApiKey(key.id, NOW);
      const refused = await post("b");
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({ status: "error", message: "API key has been revoked" });
      expect(await storedCount(f)).toBe(1);
      // The refusal dropped the cached record: the next request is refused at the door.
      expect((await post("c")).status).toBe(401);
      expect(await storedCount(f)).toBe(1);
    }, { clock: new FakeClock(NOW) });
  });

  it("refuses only the revoked key's requests in a shared commit; the others are stored", async () => {
    await withApp(async (f) => {
      const doomed = await createKey(f);
      const kept = await createKey(f);
      const post = (key: string, deviceId: string) =>
        f.request("/v1/events", { method: "POST", key, body: event(deviceId) });
      expect((await post(doomed.key, "warm")).status).toBe(202);
      await f.server.store.revokeApiKey(doomed.id, NOW);
      // Concurrent requests share one group commit; the revoked key's three fail, the rest commit.
      const responses = await Promise.all(
        Array.from({ length: 6 }, (_, i) => post(i % 2 ? kept.key : doomed.key, `d${i}`)),
      );
      expect(responses.map((r) => r.status)).toEqual([401, 202, 401, 202, 401, 202]);
      const devices = (await f.server.store.listEvents({ limit: 10 })).map((e) => e.deviceId).sort();
      expect(devices).toEqual(["d1", "d3", "d5", "warm"]);
    }, { clock: new FakeClock(NOW) });
  });

  it("refuses a cached key once it expires, by the clock", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const key = await createKey(f, { expiresAt: NOW + 500 });
      const post = () => f.request("/v1/events", { method: "POST", key: key.key, body: event("x") });
      expect((await post()).status).toBe(202);
      clock.advance(500);
      const refused = await post();
      expect(refused.status).toBe(401);
      expect((await refused.json()).message).toBe("API key has expired");
      expect(await storedCount(f)).toBe(1);
    }, { clock });
  });

  it("reads keys uncached for everything but ingestion", async () => {
    await withApp(async (f) => {
      const key = await createKey(f);
      expect((await f.request("/v1/events", { key: key.key })).status).toBe(200);
      await f.server.store.revokeApiKey(key.id, NOW);
      const read = await f.request("/v1/events", { key: key.key });
      expect(read.status).toBe(401);
      expect((await read.json()).message).toBe("API key has been revoked");
    }, { clock: new FakeClock(NOW) });
  });
});
