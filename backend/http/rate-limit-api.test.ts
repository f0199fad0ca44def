import { describe, expect, it } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const env = { RATE_LIMIT_EVENTS_PER_SEC: "10", RATE_LIMIT_BURST: "20", MAX_EVENTS_PER_REQUEST: "20" };
const batch = (n: number, prefix: string) =>
  JSON.stringify(
    Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, deviceId: "d", eventType: "t" })),
  );
const rateHeaders = (res: Response) => ({
  limit: res.headers.get("ratelimit-limit"),
  remaining: res.headers.get("ratelimit-remaining"),
  reset: res.headers.get("ratelimit-reset"),
  retryAfter: res.headers.get("retry-after"),
});

describe("per-key rate limits on ingestion", () => {
  it("counts events, answers 429 with Retry-After and RateLimit headers, and stores nothing refused", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const first = await f.request("/v1/events", { method: "POST", body: batch(15, "a") });
      expect(first.status).toBe(202);
      expect(rateHeaders(first)).toEqual({ limit: "20", remaining: "5", reset: "2", retryAfter: null });

      const refused = await f.request("/v1/events", { method: "POST", body: batch(10, "b") });
      expect(refused.status).toBe(429);
      expect(rateHeaders(refused)).toEqual({ limit: "20", remaining: "5", reset: "2", retryAfter: "1" });
      expect(await refused.json()).toEqual({
        status: "error",
        message: "Rate limit exceeded: 10 events/s with bursts of 20; retry after 1 s",
        errors: [],
      });
      expect((await f.server.store.stats()).events).toBe(15);

      clock.advance(500);
      const later = await f.request("/v1/events", { method: "POST", body: batch(10, "b") });
      expect(later.status).toBe(202);
      expect(rateHeaders(later)).toMatchObject({ remaining: "0", reset: "2" });
      expect((await f.server.store.stats()).events).toBe(25);
    }, { clock, env });
  });

  it("applies a per-key override set through the admin API, audited, and clears it", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const { data: key } = await (await f.request("/v1/admin/keys", {
        method: "POST",
        body: JSON.stringify({ name: "slow", scopes: ["ingest"] }),
      })).json();
      const patch = await f.request(`/v1/admin/keys/${key.id}`, {
        method: "PATCH",
        body: JSON.stringify({ rateLimit: { eventsPerSecond: 1, burst: 3 } }),
      });
      expect(patch.status).toBe(200);
      expect((await patch.json()).data.rateLimit).toEqual({ eventsPerSecond: 1, burst: 3 });

      const post = () =>
        f.request("/v1/events", {
          method: "POST",
          key: key.key,
          body: JSON.stringify({ deviceId: "d", eventType: "t" }),
        });
      expect([(await post()).status, (await post()).status, (await post()).status]).toEqual([202, 202, 202]);
      const limited = await post();
      expect(limited.status).toBe(429);
      expect(rateHeaders(limited)).toEqual({ limit: "3", remaining: "0", reset: "3", retryAfter: "1" });
      const tooBig = await f.request("/v1/events", { method: "POST", key: key.key, body: batch(4, "x") });
      expect(tooBig.status).toBe(413);
      // The key's limits, so a client can size its next request; no Retry-After: this one never fits.
      expect(rateHeaders(tooBig)).toEqual({ limit: "3", remaining: "0", reset: "3", retryAfter: null });
      expect((await tooBig.json()).message).toBe(
        "A request of 4 events exceeds this key's burst of 3 events",
      );

      const bad = await f.request(`/v1/admin/keys/${key.id}`, {
        method: "PATCH",
        body: JSON.stringify({ rateLimit: { eventsPerSecond: 0, burst: 1.5 } }),
      });
      expect((await bad.json()).errors).toEqual([
        { field: "rateLimit.eventsPerSecond", message: "eventsPerSecond must be positive" },
        { field: "rateLimit.burst", message: "burst must be an integer" },
      ]);
      const cleared = await f.request(`/v1/admin/keys/${key.id}`, {
        method: "PATCH",
        body: JSON.stringify({ rateLimit: null }),
      });
      expect((await cleared.json()).data.rateLimit).toBeNull();
      // Back on the default (10/s, burst 20): the bucket keeps its 0 tokens and refills at 10/s.
      clock.advance(1000);
      expect(rateHeaders(await post())).toMatchObject({ limit: "20", remaining: "9" });

      const audit = await (await f.request("/v1/admin/audit?limit=2")).json();
      expect(audit.data.entries.map((e: { action: string; details: unknown }) => [e.action, e.details]))
        .toEqual([
          ["key.rate_limit_changed", { before: { eventsPerSecond: 1, burst: 3 }, after: null }],
          ["key.rate_limit_changed", { before: null, after: { eventsPerSecond: 1, burst: 3 } }],
        ]);
      expect(
        (await f.request("/v1/admin/keys/key_none", {
          method: "PATCH",
          body: JSON.stringify({ rateLimit: null }),
        })).status,
      )
        .toBe(404);
    }, { clock, env });
  });
});
