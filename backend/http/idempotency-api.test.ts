import { describe, expect, it } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const post = (body: unknown, idemKey: string, extra: Record<string, string> = {}) => ({
  method: "POST",
  body: typeof body === "string" ? body : JSON.stringify(body),
  headers: { "Idempotency-Key": idemKey, ...extra },
});

describe("Idempotency-Key", () => {
  it("replays a completed request with the identical status and body", async () => {
    await withApp(async (f) => {
      const batch = [{ deviceId: "d", eventType: "t", value: 1 }, {
        deviceId: "e",
        eventType: "t",
        value: 2,
      }];
      const first = await f.request("/v1/events", post(batch, "batch-1"));
      expect(first.status).toBe(202);
      expect(first.headers.get("idempotent-replayed")).toBeNull();
      const firstBody = await first.text();
      // Same payload with object keys in another order is the same payload.
      const reordered = [{ value: 1, eventType: "t", deviceId: "d" }, {
        eventType: "t",
        value: 2,
        deviceId: "e",
      }];
      const replay = await f.request("/v1/events", post(reordered, "batch-1"));
      expect(replay.status).toBe(202);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await replay.text()).toBe(firstBody);
      expect((await f.server.store.stats()).events).toBe(2);
    }, { clock: new FakeClock(NOW) });
  });

  it("answers 422 to the same key with a different payload, storing nothing", async () => {
    await withApp(async (f) => {
      await f.request("/v1/events", post({ deviceId: "d", eventType: "t", value: 1 }, "k-1"));
      const res = await f.request("/v1/events", post({ deviceId: "d", eventType: "t", value: 2 }, "k-1"));
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual({
        status: "error",
        message: "This Idempotency-Key was already used with a different payload",
        errors: [{
          field: "idempotency-key",
          message: "This Idempotency-Key was already used with a different payload",
        }],
      });
      expect((await f.server.store.stats()).events).toBe(1);
    });
  });

  it("does not remember 4xx outcomes, so a corrected retry works", async () => {
    await withApp(async (f) => {
      const bad = await f.request("/v1/events", post({ deviceId: "", eventType: "t" }, "fix-me"));
      expect(bad.status).toBe(400);
      const fixed = await f.request("/v1/events", post({ deviceId: "d", eventType: "t" }, "fix-me"));
      expect(fixed.status).toBe(202);
      expect((await fixed.json()).data.id).toBe("fix-me");
    });
  });

  it("under true concurrency gives one 202, the rest 409 or the identical replay, and stores one event", async () => {
    await withApp(async (f) => {
      const body = { deviceId: "d", eventType: "t", value: 7 };
      const responses = await Promise.all(
        Array.from({ length: 20 }, () => f.request("/v1/events", post(body, "race"))),
      );
      const fresh = responses.filter((r) =>
        r.status === 202 && r.headers.get("idempotent-replayed") === null
      );
      const replays = responses.filter((r) => r.headers.get("idempotent-replayed") === "true");
      const conflicts = responses.filter((r) => r.status === 409);
      expect(fresh).toHaveLength(1);
      expect(replays.length + conflicts.length).toBe(19);
      expect(conflicts.length).toBeGreaterThan(0);
      const freshBody = await fresh[0].text();
      for (const r of replays) expect(await r.text()).toBe(freshBody);
      expect((await conflicts[0].json()).message).toBe(
        "A request with this Idempotency-Key is still in progress",
      );
      expect((await f.server.store.stats()).events).toBe(1);
    });
  });

  it("is scoped per API key, and derives batch ids so an expired key cannot store twice", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const { data: other } = await (await f.request("/v1/admin/keys", {
        method: "POST",
        body: JSON.stringify({ name: "other", scopes: ["ingest"] }),
      })).json();
      const batch = [{ deviceId: "d", eventType: "t" }, { deviceId: "d", eventType: "t" }];
      const mine = await (await f.request("/v1/events", post(batch, "shared"))).json();
      const theirs = await f.request("/v1/events", {
        ...post([{ deviceId: "x", eventType: "y" }], "shared"),
        key: other.key,
      });
      expect(theirs.status).toBe(202);
      expect(theirs.headers.get("idempotent-replayed")).toBeNull();
      const ids = mine.data.results.map((r: { id: string }) => r.id);
      expect(ids[0]).toMatch(/^idem-[0-9a-f]{32}-0$/);
      expect(ids[1]).toBe(ids[0].replace(/-0$/, "-1"));
      expect((await f.server.store.stats()).events).toBe(3);

      clock.advance(24 * 3_600_000 + 1); // the record expired: the request runs again, its ids dedup
      const again = await f.request("/v1/events", post(batch, "shared"));
      expect(again.headers.get("idempotent-replayed")).toBeNull();
      expect((await again.json()).data.totals).toEqual({
        received: 2,
        accepted: 0,
        duplicate: 2,
        rejected: 0,
      });
      expect((await f.server.store.stats()).events).toBe(3);
      expect(await f.server.store.purgeIdempotencyRecords(clock.now() + 24 * 3_600_000 + 1)).toBe(2);
    }, { clock });
  });

  it("remembers the actual outcome when a concurrent request took the id first", async () => {
    await withApp(async (f) => {
      const body = { id: "contended", deviceId: "d", eventType: "t" };
      const [a, b] = await Promise.all([
        f.request("/v1/events", post(body, "first")),
        f.request("/v1/events", post(body, "second")),
      ]);
      const bodies = [await a.json(), await b.json()];
      expect(bodies.map((x) => x.data.duplicate ?? false).sort()).toEqual([false, true]);
      for (const [key, original] of [["first", bodies[0]], ["second", bodies[1]]] as const) {
        const replay = await f.request("/v1/events", post(body, key));
        expect(replay.headers.get("idempotent-replayed")).toBe("true");
        expect(await replay.json()).toEqual(original);
      }
      expect((await f.server.store.stats()).events).toBe(1);
    });
  });

  it("derives a single event's id from a key that is not a valid id, so an expired key cannot store twice", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const keys = ["order/42!", "k".repeat(129)];
      const ids: string[] = [];
      for (const key of keys) {
        const first = await f.request("/v1/events", post({ deviceId: "d", eventType: "t" }, key));
        expect(first.status).toBe(202);
        ids.push((await first.json()).data.id);
      }
      expect(ids[0]).toMatch(/^idem-[0-9a-f]{32}-0$/);
      expect(ids[1]).toMatch(/^idem-[0-9a-f]{32}-0$/);
      expect(ids[1]).not.toBe(ids[0]);
      expect((await f.server.store.stats()).events).toBe(2);

      clock.advance(24 * 3_600_000 + 1); // the records expired: the requests run again, their ids dedup
      for (const [i, key] of keys.entries()) {
        const again = await f.request("/v1/events", post({ deviceId: "d", eventType: "t" }, key));
        expect(again.status).toBe(202);
        expect(again.headers.get("idempotent-replayed")).toBeNull();
        expect((await again.json()).data).toMatchObject({ id: ids[i], duplicate: true });
      }
      expect((await f.server.store.stats()).events).toBe(2);
    }, { clock });
  });

  it("answers 400, not 500, to nesting deeper than the call stack under an Idempotency-Key", async () => {
    await withApp(async (f) => {
      const depth = 200_000;
      const deepData = `{"deviceId":"d","eventType":"t","data":${'{"a":'.repeat(depth)}1${
        "}".repeat(depth)
      }}`;
      const data = await f.request("/v1/events", post(deepData, "deep-1"));
      expect(data.status).toBe(400);
      expect((await data.json()).errors).toEqual([
        { field: "data", message: "data must be nested at most 32 levels deep" },
      ]);
      const deepMeta = `{"deviceId":"d","eventType":"t","metadata":{"a":${"[".repeat(depth)}${
        "]".repeat(depth)
      }}}`;
      const meta = await f.request("/v1/events", post(deepMeta, "deep-2"));
      expect(meta.status).toBe(400);
      expect((await meta.json()).errors[0].field).toBe("metadata.a");
      // In a batch the deep item alone is rejected; the replay of the whole batch is recognised.
      const batch = `[{"deviceId":"d","eventType":"t"},${deepData}]`;
      const first = await f.request("/v1/events", post(batch, "deep-3"));
      expect(first.status).toBe(202);
      const body = await first.json();
      expect(body.data.totals).toEqual({ received: 2, accepted: 1, duplicate: 0, rejected: 1 });
      expect(body.data.results[1].errors).toEqual([
        { field: "data", message: "data must be nested at most 32 levels deep" },
      ]);
      const replay = await f.request("/v1/events", post(batch, "deep-3"));
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      const changed = await f.request("/v1/events", post(batch.replace("1}", "2}"), "deep-3"));
      expect(changed.status).toBe(422);
      expect((await f.server.store.stats()).events).toBe(1);
    });
  });

  it("refuses a malformed Idempotency-Key", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v1/events", post({ deviceId: "d", eventType: "t" }, "has space"));
      expect(res.status).toBe(400);
      expect((await res.json()).errors).toEqual([
        { field: "idempotency-key", message: "must be 1-255 printable ASCII characters without spaces" },
      ]);
    });
  });
});
