/** Bad input and limits on POST /v1/events: a clear 4xx and nothing stored. */
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { FakeClock, storedCount, withApp } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const clock = () => new FakeClock(NOW);
const json = (value: unknown) => JSON.stringify(value);

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
    [
      "a value too large for sums to stay finite",
      { body: json({ deviceId: "d", eventType: "t", value: 1.7e308 }) },
      400,
      [
        { field: "value", message: "value must be a finite number within ±1e+100" },
      ],
    ],
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
          "metadata values must be strings (at most 256 characters, no control characters or lone surrogates), finite numbers or booleans",
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
            "timestamp must be epoch milliseconds (a non-negative integer) or an ISO-8601 date-time with a time zone (a real calendar day, hours 00-23)",
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
