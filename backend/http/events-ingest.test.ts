/** Ingest of single events and batches through POST /v1/events. */
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { FakeClock, storedCount, TEST_KEY, withApp } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const clock = () => new FakeClock(NOW);
const json = (value: unknown) => JSON.stringify(value);

describe("POST /v1/events (single event)", () => {
  it("accepts an event with PulseStream's 202 body and stores the exact payload", async () => {
    await withApp(async (f) => {
      const event = {
        id: "evt-1",
        deviceId: "sensor-1",
        eventType: "temperature",
        value: 21.5,
        timestamp: NOW - 1000,
        metadata: { site: "berlin", floor: 3, indoor: true },
        data: { raw: [1, 2, { x: "y" }] },
      };
      const res = await f.request("/v1/events", { method: "POST", body: json(event) });
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({
        status: "success",
        message: "Event accepted for processing",
        data: { id: "evt-1", deviceId: "sensor-1", timestamp: new Date(NOW - 1000).toISOString() },
      });
      const read = await f.request("/v1/events/evt-1");
      expect(read.status).toBe(200);
      expect((await read.json()).data).toEqual({
        ...event,
        timestamp: new Date(NOW - 1000).toISOString(),
        receivedAt: new Date(NOW).toISOString(),
        partition: expect.any(Number),
      });
    }, { clock: clock() });
  });

  it("generates a time-ordered UUIDv7 id and defaults the timestamp to receive time", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v1/events", {
        method: "POST",
        body: json({ deviceId: "d", eventType: "t" }),
      });
      expect(res.status).toBe(202);
      const { data } = await res.json();
      expect(data.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(data.timestamp).toBe(new Date(NOW).toISOString());
    }, { clock: clock() });
  });

  it("reports a repeated id as a duplicate and stores it once", async () => {
    await withApp(async (f) => {
      const body = json({ id: "same", deviceId: "d", eventType: "t", value: 1 });
      expect((await f.request("/v1/events", { method: "POST", body })).status).toBe(202);
      const second = await f.request("/v1/events", {
        method: "POST",
        body: json({ id: "same", deviceId: "d", eventType: "t", value: 2 }),
      });
      expect(second.status).toBe(202);
      expect((await second.json()).data).toMatchObject({ id: "same", duplicate: true });
      expect(await storedCount(f)).toBe(1);
      expect((await (await f.request("/v1/events/same")).json()).data.value).toBe(1);
    });
  });

  it("uses a valid Idempotency-Key as the id of a single event without one", async () => {
    await withApp(async (f) => {
      const init = {
        method: "POST",
        body: json({ deviceId: "d", eventType: "t" }),
        headers: { "Idempotency-Key": "order-42" },
      };
      const first = await f.request("/v1/events", init);
      expect((await first.json()).data.id).toBe("order-42");
      // Without the idempotency record (another API key, same key string), the id still dedups.
      const other = await f.server.store.getEvent("order-42");
      expect(other?.deviceId).toBe("d");
      expect(await storedCount(f)).toBe(1);
    });
  });

  it("accepts Authorization: Bearer", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v1/events", {
        method: "POST",
        key: null,
        headers: { authorization: `Bearer ${TEST_KEY}` },
        body: json({ deviceId: "d", eventType: "t" }),
      });
      expect(res.status).toBe(202);
    });
  });
});

describe("POST /v1/events (batches)", () => {
  it("returns per-item results and totals, storing valid items even when others are rejected", async () => {
    await withApp(async (f) => {
      await f.request("/v1/events", {
        method: "POST",
        body: json({ id: "old", deviceId: "d", eventType: "t" }),
      });
      const res = await f.request("/v1/events", {
        method: "POST",
        body: json([
          { id: "a", deviceId: "d1", eventType: "t", value: 1 },
          { id: "bad-1", deviceId: "", eventType: "t" },
          { id: "old", deviceId: "d", eventType: "t" },
          { id: "a", deviceId: "d1", eventType: "t", value: 9 },
          { deviceId: "d2", eventType: "t", value: "x" },
        ]),
      });
      expect(res.status).toBe(202);
      const body = await res.json();
      expect(body.data.totals).toEqual({ received: 5, accepted: 1, duplicate: 2, rejected: 2 });
      expect(body.data.results).toEqual([
        { index: 0, id: "a", status: "accepted" },
        {
          index: 1,
          id: "bad-1",
          status: "rejected",
          error: "deviceId: deviceId must not be empty",
          errors: [{ field: "deviceId", message: "deviceId must not be empty" }],
        },
        { index: 2, id: "old", status: "duplicate" },
        { index: 3, id: "a", status: "duplicate" },
        {
          index: 4,
          status: "rejected",
          error: "value: value must be a finite number",
          errors: [{ field: "value", message: "value must be a finite number" }],
        },
      ]);
      expect(await storedCount(f)).toBe(2);
    });
  });

  it("answers 400 and stores nothing when every item is rejected", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v1/events", {
        method: "POST",
        body: json([{ deviceId: "d" }, { eventType: "t", deviceId: "x", value: null, extra: 1 }]),
      });
      expect(res.status).toBe(400);
      const body = await res.json();
      expect(body.status).toBe("error");
      expect(body.errors).toEqual([
        { field: "[0].eventType", message: "eventType must be a string" },
        { field: "[1].extra", message: 'unknown field "extra"' },
      ]);
      expect(await storedCount(f)).toBe(0);
    });
  });

  it("accepts NDJSON and rejects an unparsable line by index", async () => {
    await withApp(async (f) => {
      const body = [
        json({ deviceId: "d", eventType: "t", value: 1 }),
        "{not json",
        "",
        json({ deviceId: "e", eventType: "t" }),
      ].join("\n");
      const res = await f.request("/v1/events", {
        method: "POST",
        body,
        headers: { "content-type": "application/x-ndjson" },
      });
      expect(res.status).toBe(202);
      const data = (await res.json()).data;
      expect(data.totals).toEqual({ received: 3, accepted: 2, duplicate: 0, rejected: 1 });
      expect(data.results[1]).toEqual({
        index: 1,
        status: "rejected",
        error: "line is not valid JSON",
        errors: [{ field: "event", message: "line is not valid JSON" }],
      });
      expect(await storedCount(f)).toBe(2);
    });
  });

  it("accepts a gzip-encoded batch", async () => {
    await withApp(async (f) => {
      const events = Array.from(
        { length: 500 },
        (_, i) => ({ id: `g-${i}`, deviceId: `d${i % 7}`, eventType: "t", value: i }),
      );
      const res = await f.request("/v1/events", {
        method: "POST",
        body: gzipSync(json(events)),
        headers: { "content-encoding": "gzip" },
      });
      expect(res.status).toBe(202);
      expect((await res.json()).data.totals.accepted).toBe(500);
      expect(await storedCount(f)).toBe(500);
    });
  });
});
