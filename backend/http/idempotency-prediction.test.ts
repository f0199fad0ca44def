/**
 * An Idempotency-Key request commits on the prediction that its key and ids are new, checked
 * inside the commit. These tests make the prediction wrong behind the server's back (records and
 * events already in the store, not in its memory) and check the exact outcome of the fallback.
 */
import { describe, expect, it } from "vitest";
import { canonicalJson, fingerprintOf } from "../ingest/idempotency.ts";
import { FakeClock, storedCount, withApp } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const post = (body: unknown, idemKey?: string) => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: idemKey ? { "Idempotency-Key": idemKey } : ({} as Record<string, string>),
});
const adminKeyId = async (f: Parameters<Parameters<typeof withApp>[0]>[0]) =>
  (await f.server.store.listApiKeys()).find((k) => k.name === "bootstrap")!.id;

describe("Idempotency-Key prediction checked at commit", () => {
  it("replays a record the store has but this process never saw, storing nothing", async () => {
    await withApp(async (f) => {
      const event = { deviceId: "d", eventType: "t", value: 1 };
      await f.server.store.saveIdempotencyRecords([{
        keyId: await adminKeyId(f),
        idemKey: "from-elsewhere",
        fingerprint: fingerprintOf(canonicalJson({ kind: "single", items: [event] })),
        status: 202,
        body: '{"status":"success","answered":"by another instance"}',
        createdAt: NOW,
        expiresAt: NOW + 60_000,
      }]);
      const replay = await f.request("/v1/events", post(event, "from-elsewhere"));
      expect(replay.status).toBe(202);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await replay.text()).toBe('{"status":"success","answered":"by another instance"}');
      const other = await f.request("/v1/events", post({ ...event, value: 2 }, "from-elsewhere"));
      expect(other.status).toBe(422);
      expect(await storedCount(f)).toBe(0);
    }, { clock: new FakeClock(NOW) });
  });

  it("answers a stale and a fresh prediction committed together each exactly", async () => {
    await withApp(async (f) => {
      const event = { deviceId: "d", eventType: "t", value: 1 };
      await f.server.store.saveIdempotencyRecords([{
        keyId: await adminKeyId(f),
        idemKey: "stale",
        fingerprint: fingerprintOf(canonicalJson({ kind: "single", items: [event] })),
        status: 202,
        body: '{"status":"success","answered":"before"}',
        createdAt: NOW,
        expiresAt: NOW + 60_000,
      }]);
      // Sent together, so that they can share a group commit whose prediction check fails as one.
      const [stale, fresh, batch, plain] = await Promise.all([
        f.request("/v1/events", post(event, "stale")),
        f.request("/v1/events", post(event, "fresh")),
        f.request("/v1/events", post([{ ...event, id: "b1" }, { ...event, id: "b2" }], "fresh-batch")),
        f.request("/v1/events", post({ ...event, id: "plain" })),
      ]);
      expect(stale.status).toBe(202);
      expect(stale.headers.get("idempotent-replayed")).toBe("true");
      expect(await stale.text()).toBe('{"status":"success","answered":"before"}');
      expect(fresh.status).toBe(202);
      expect(fresh.headers.get("idempotent-replayed")).toBeNull();
      expect((await fresh.json()).data.id).toBe("fresh");
      expect((await batch.json()).data.totals).toEqual({
        received: 2,
        accepted: 2,
        duplicate: 0,
        rejected: 0,
      });
      // A request without a key in the same group is committed in the next round, as it was.
      expect(plain.status).toBe(202);
      expect((await plain.json()).data.id).toBe("plain");
      expect(await storedCount(f)).toBe(4);
      const again = await f.request("/v1/events", post(event, "fresh"));
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(await storedCount(f)).toBe(4);
    }, { clock: new FakeClock(NOW) });
  });

  it("reports an already stored id as duplicate and replays exactly that", async () => {
    await withApp(async (f) => {
      const event = { id: "ev-1", deviceId: "d", eventType: "t", value: 1 };
      expect((await f.request("/v1/events", post(event))).status).toBe(202);
      const batch = [event, { id: "ev-2", deviceId: "d", eventType: "t", value: 2 }, { deviceId: "" }];
      const first = await f.request("/v1/events", post(batch, "batch-dup"));
      expect(first.status).toBe(202);
      const body = await first.json();
      expect(body.data.totals).toEqual({ received: 3, accepted: 1, duplicate: 1, rejected: 1 });
      expect(body.data.results.map((r: { status: string }) => r.status)).toEqual([
        "duplicate",
        "accepted",
        "rejected",
      ]);
      const replay = await f.request("/v1/events", post(batch, "batch-dup"));
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await replay.json()).toEqual(body);
      expect(await storedCount(f)).toBe(2);
      // The retried attempt did not count the rejected item twice.
      const metrics = await (await f.request("/metrics")).text();
      const rejected = metrics.split("\n").filter((l) =>
        l.startsWith("pulsestream_events_total{") && l.includes('outcome="rejected"')
      );
      expect(rejected.map((l) => Number(l.split(" ").pop())).reduce((a, b) => a + b, 0)).toBe(1);
    }, { clock: new FakeClock(NOW) });
  });
});
