import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { hashApiKey } from "../auth/api-keys.ts";
import { FakeClock, TEST_KEY, withApp } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const clock = () => new FakeClock(NOW);
const json = (value: unknown) => JSON.stringify(value);

async function storedCount(f: { server: { store: { stats(): Promise<{ events: number }> } } }) {
  return (await f.server.store.stats()).events;
}

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

describe("POST /v1/events rejects bad input with a clear 4xx and stores nothing", () => {
  const cases: [string, RequestInit, number, unknown][] = [
    ["malformed JSON", { body: '{"deviceId": "d",' }, 400, [{ field: "body", message: "malformed JSON" }]],
    ["a scalar body", { body: "42" }, 400, [{ field: "body", message: "expected an object or an array" }]],
    ["an empty array", { body: "[]" }, 400, [{ field: "body", message: "no events" }]],
    ["an empty body", { body: "" }, 400, [{ field: "body", message: "malformed JSON" }]],
    ["wrong types", { body: json({ deviceId: 1, eventType: ["x"], metadata: "tags" }) }, 400, [
      { field: "deviceId", message: "deviceId must be a string" },
      { field: "eventType", message: "eventType must be a string" },
      { field: "metadata", message: "metadata must be an object of tags" },
    ]],
    ["NUL in a string", { body: json({ deviceId: "a\u0000b", eventType: "t" }) }, 400, [
      { field: "deviceId", message: "deviceId must not contain control characters" },
    ]],
    [
      "a control character in data",
      { body: json({ deviceId: "a", eventType: "t", data: { note: "x\u0007" } }) },
      400,
      [
        { field: "data.note", message: "strings must not contain control characters" },
      ],
    ],
    ["a huge number", { body: '{"deviceId":"d","eventType":"t","value":1e999}' }, 400, [
      { field: "value", message: "value must be a finite number" },
    ]],
    ["an over-long deviceId", { body: json({ deviceId: "x".repeat(129), eventType: "t" }) }, 400, [
      { field: "deviceId", message: "deviceId must be at most 128 characters" },
    ]],
    ["an over-long eventType", { body: json({ deviceId: "d", eventType: "x".repeat(65) }) }, 400, [
      { field: "eventType", message: "eventType must be at most 64 characters" },
    ]],
    ["a bad id", { body: json({ id: "has space", deviceId: "d", eventType: "t" }) }, 400, [
      { field: "id", message: "id may only contain A-Z a-z 0-9 . _ : -" },
    ]],
    ["an over-long id", { body: json({ id: "i".repeat(129), deviceId: "d", eventType: "t" }) }, 400, [
      { field: "id", message: "id must be at most 128 characters" },
    ]],
    [
      "too many metadata keys",
      {
        body: json({
          deviceId: "d",
          eventType: "t",
          metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])),
        }),
      },
      400,
      [{ field: "metadata", message: "metadata must have at most 32 keys" }],
    ],
    ["nested metadata", { body: json({ deviceId: "d", eventType: "t", metadata: { a: { b: 1 } } }) }, 400, [
      {
        field: "metadata.a",
        message:
          "metadata values must be strings (at most 256 characters, no control characters), finite numbers or booleans",
      },
    ]],
    [
      "data over 16 KiB",
      { body: json({ deviceId: "d", eventType: "t", data: { blob: "x".repeat(16 * 1024) } }) },
      400,
      [
        { field: "data", message: "data must be at most 16384 bytes as JSON (got 16395)" },
      ],
    ],
    [
      "deeply nested data",
      {
        body: '{"deviceId":"d","eventType":"t","data":' + '{"a":'.repeat(40) + "1" + "}".repeat(40) + "}",
      },
      400,
      [{ field: "data", message: "data must be nested at most 32 levels deep" }],
    ],
    ["data that is an array", { body: json({ deviceId: "d", eventType: "t", data: [1] }) }, 400, [
      { field: "data", message: "data must be a JSON object" },
    ]],
    [
      "a timestamp in the future",
      { body: json({ deviceId: "d", eventType: "t", timestamp: NOW + 5 * 60_000 + 1 }) },
      400,
      [
        { field: "timestamp", message: "timestamp is more than 300 s in the future" },
      ],
    ],
    [
      "a timestamp older than retention",
      {
        body: json({
          deviceId: "d",
          eventType: "t",
          timestamp: new Date(NOW - 8 * 86_400_000).toISOString(),
        }),
      },
      400,
      [{ field: "timestamp", message: "timestamp is older than the retention window (7 d)" }],
    ],
    [
      "a timestamp without a zone",
      { body: json({ deviceId: "d", eventType: "t", timestamp: "2026-11-22 10:00" }) },
      400,
      [
        {
          field: "timestamp",
          message:
            "timestamp must be epoch milliseconds (a non-negative integer) or an ISO-8601 date-time with a time zone",
        },
      ],
    ],
    ["an unknown field", { body: json({ deviceId: "d", eventType: "t", devceId: "typo" }) }, 400, [
      { field: "devceId", message: 'unknown field "devceId"' },
    ]],
    ["invalid UTF-8", { body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) }, 400, [{
      field: "body",
      message: "invalid UTF-8",
    }]],
    [
      "a truncated gzip body",
      {
        body: gzipSync(json([{ deviceId: "d", eventType: "t" }])).subarray(0, 20),
        headers: { "content-encoding": "gzip" },
      },
      400,
      [{ field: "body", message: "invalid gzip stream" }],
    ],
    [
      "a form content type",
      { body: "deviceId=d", headers: { "content-type": "application/x-www-form-urlencoded" } },
      415,
      [
        {
          field: "content-type",
          message:
            "Content-Type must be application/json or application/x-ndjson (got application/x-www-form-urlencoded)",
        },
      ],
    ],
    ["an unsupported encoding", { body: "{}", headers: { "content-encoding": "br" } }, 415, [
      { field: "content-encoding", message: "Content-Encoding must be gzip or absent (got br)" },
    ]],
  ];

  for (const [name, init, status, errors] of cases) {
    it(`answers ${status} to ${name}`, async () => {
      await withApp(async (f) => {
        const res = await f.request("/v1/events", { method: "POST", ...init });
        expect(res.status).toBe(status);
        const body = await res.json();
        expect(body.status).toBe("error");
        expect(body.errors).toEqual(errors);
        expect(await storedCount(f)).toBe(0);
      }, { clock: clock() });
    });
  }

  it("lists every bad field of an event, not only the first", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v1/events", {
        method: "POST",
        body: json({ id: "", deviceId: "", eventType: "", value: "1", timestamp: -5 }),
      });
      expect(res.status).toBe(400);
      expect((await res.json()).errors.map((e: { field: string }) => e.field)).toEqual([
        "id",
        "deviceId",
        "eventType",
        "value",
        "timestamp",
      ]);
    }, { clock: clock() });
  });
});

describe("POST /v1/events limits", () => {
  it("answers 413 from Content-Length alone, before reading the body", async () => {
    await withApp(async (f) => {
      let pulled = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled++;
          controller.enqueue(new TextEncoder().encode("[".repeat(1024)));
          if (pulled > 100) controller.close();
        },
      });
      const res = await f.request("/v1/events", {
        method: "POST",
        body,
        headers: { "content-length": String(2048 * 1024) },
        duplex: "half",
      } as RequestInit);
      expect(res.status).toBe(413);
      expect(pulled).toBeLessThanOrEqual(1);
    }, { env: { MAX_BODY_BYTES: String(1024 * 1024) } });
  });

  it("stops a gzip bomb while inflating", async () => {
    await withApp(async (f) => {
      const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
      expect(bomb.length).toBeLessThan(100 * 1024);
      const res = await f.request("/v1/events", {
        method: "POST",
        body: bomb,
        headers: { "content-encoding": "gzip" },
      });
      expect(res.status).toBe(413);
      expect((await res.json()).message).toBe("Request body exceeds 10485760 bytes (after decompression)");
    });
  });

  it("answers 413 to a streamed body over the limit without Content-Length", async () => {
    await withApp(async (f) => {
      const chunk = new TextEncoder().encode(" ".repeat(64 * 1024));
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          sent += chunk.length;
          controller.enqueue(chunk);
          if (sent > 8 * 1024 * 1024) controller.close();
        },
      });
      const res = await f.request("/v1/events", { method: "POST", body, duplex: "half" } as RequestInit);
      expect(res.status).toBe(413);
      expect(sent).toBeLessThan(2 * 1024 * 1024);
    }, { env: { MAX_BODY_BYTES: String(1024 * 1024) } });
  });

  it("answers 413 to more events than allowed, in JSON arrays and NDJSON", async () => {
    await withApp(async (f) => {
      const events = Array.from({ length: 11 }, (_, i) => ({ deviceId: "d,[{", eventType: `t${i}` }));
      const array = await f.request("/v1/events", { method: "POST", body: json(events) });
      expect(array.status).toBe(413);
      expect((await array.json()).errors).toEqual([{
        field: "events",
        message: "Too many events: at most 10 per request",
      }]);
      const ndjson = await f.request("/v1/events", {
        method: "POST",
        body: events.map((e) => json(e)).join("\n"),
        headers: { "content-type": "application/x-ndjson" },
      });
      expect(ndjson.status).toBe(413);
      // Small bodies with a declared length take the one-call read path; the same limit holds there.
      const declared = json(events);
      const withLength = await f.request("/v1/events", {
        method: "POST",
        body: declared,
        headers: { "content-length": String(new TextEncoder().encode(declared).length) },
      });
      expect(withLength.status).toBe(413);
      const exactly = await f.request("/v1/events", { method: "POST", body: json(events.slice(0, 10)) });
      expect(exactly.status).toBe(202);
      expect(await storedCount(f)).toBe(10);
    }, { env: { MAX_EVENTS_PER_REQUEST: "10" } });
  });
});

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
