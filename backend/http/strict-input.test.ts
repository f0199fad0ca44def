/**
 * Input that used to be changed on its way to the store: impossible calendar dates rolled over,
 * lone surrogates stored as U+FFFD, `__proto__` keys dropped. Each is now a 400 that stores
 * nothing, so what is stored is always what was acknowledged.
 */
import { describe, expect, it } from "vitest";
import { FakeClock, storedCount, withApp } from "../testing/with-app.ts";

const NOW = Date.parse("2026-12-05T12:00:00.000Z");
const json = (value: unknown) => JSON.stringify(value);
const TIMESTAMP_FORMAT =
  "timestamp must be epoch milliseconds (a non-negative integer) or an ISO-8601 date-time with a time zone (a real calendar day, hours 00-23)";
const SURROGATE = "must not contain lone UTF-16 surrogates (\\ud800-\\udfff without its pair)";
const PROTO = '"__proto__" is not allowed as a key';

describe("POST /v1/events stores exactly what it acknowledges", () => {
  const refused: [string, string, { field: string; message: string }[]][] = [
    ["November 31st", json({ deviceId: "d", eventType: "t", timestamp: "2026-11-31T00:00Z" }), [
      { field: "timestamp", message: TIMESTAMP_FORMAT },
    ]],
    ["hour 24", json({ deviceId: "d", eventType: "t", timestamp: "2026-12-01T24:00:00Z" }), [
      { field: "timestamp", message: TIMESTAMP_FORMAT },
    ]],
    ["month 13", json({ deviceId: "d", eventType: "t", timestamp: "2026-13-01T00:00Z" }), [
      { field: "timestamp", message: TIMESTAMP_FORMAT },
    ]],
    ["an offset of 24 hours", json({ deviceId: "d", eventType: "t", timestamp: "2026-12-01T00:00+24:00" }), [
      { field: "timestamp", message: TIMESTAMP_FORMAT },
    ]],
    ["a lone high surrogate in deviceId", '{"deviceId":"dev\\ud800","eventType":"t"}', [
      { field: "deviceId", message: `deviceId ${SURROGATE}` },
    ]],
    ["a lone low surrogate in eventType", '{"deviceId":"d","eventType":"\\udc00t"}', [
      { field: "eventType", message: `eventType ${SURROGATE}` },
    ]],
    [
      "a lone surrogate in a metadata value",
      '{"deviceId":"d","eventType":"t","metadata":{"site":"x\\ud83d"}}',
      [
        {
          field: "metadata.site",
          message:
            "metadata values must be strings (at most 256 characters, no control characters or lone surrogates), finite numbers or booleans",
        },
      ],
    ],
    ["a lone surrogate in a metadata key", '{"deviceId":"d","eventType":"t","metadata":{"\\ud83d":1}}', [
      {
        field: "metadata.\ud83d",
        message:
          'metadata keys must be 1-64 characters without control characters or lone surrogates, and not "__proto__"',
      },
    ]],
    ["a lone surrogate in a data string", '{"deviceId":"d","eventType":"t","data":{"a":["ok","\\ude00"]}}', [
      { field: "data.a.1", message: `strings ${SURROGATE}` },
    ]],
    ["a lone surrogate in a data key", '{"deviceId":"d","eventType":"t","data":{"a":{"\\ud800":1}}}', [
      { field: "data.a", message: `keys ${SURROGATE}` },
    ]],
    ["__proto__ in metadata", '{"deviceId":"d","eventType":"t","metadata":{"__proto__":"x","site":"a"}}', [
      { field: "metadata.__proto__", message: PROTO },
    ]],
    ["__proto__ at the top of data", '{"deviceId":"d","eventType":"t","data":{"__proto__":{"x":1}}}', [
      { field: "data.__proto__", message: PROTO },
    ]],
    ["__proto__ deep in data", '{"deviceId":"d","eventType":"t","data":{"a":[{"__proto__":1}]}}', [
      { field: "data.a.0.__proto__", message: PROTO },
    ]],
  ];

  for (const [name, body, errors] of refused) {
    it(`answers 400 to ${name} and stores nothing`, async () => {
      await withApp(async (f) => {
        const res = await f.request("/v1/events", { method: "POST", body });
        expect(res.status).toBe(400);
        expect((await res.json()).errors).toEqual(errors);
        expect(await storedCount(f)).toBe(0);
      }, { clock: new FakeClock(NOW) });
    });
  }

  it("accepts real dates, paired surrogates and ordinary keys, and returns them unchanged", async () => {
    await withApp(async (f) => {
      const event = {
        deviceId: "dev-\ud83d\ude00",
        eventType: "t",
        timestamp: "2026-11-30T23:59:59.999-01:00",
        metadata: { "emoji\ud83d\ude00": "\ud83d\ude00", constructor: "c" },
        data: { nested: { prototype: ["\ud83d\ude00"] } },
      };
      const res = await f.request("/v1/events", { method: "POST", body: json(event) });
      expect(res.status).toBe(202);
      const { data } = await res.json();
      expect(data).toEqual({ id: data.id, deviceId: event.deviceId, timestamp: "2026-12-01T00:59:59.999Z" });
      const stored = await (await f.request(`/v1/events/${data.id}`)).json();
      expect(stored.data).toMatchObject({
        deviceId: event.deviceId,
        metadata: event.metadata,
        data: event.data,
        timestamp: "2026-12-01T00:59:59.999Z",
      });
      const listed = await (await f.request(`/v1/events?deviceId=${encodeURIComponent(event.deviceId)}`))
        .json();
      expect(listed.data.events.map((e: { id: string }) => e.id)).toEqual([data.id]);
    }, { clock: new FakeClock(NOW) });
  });
});

describe("time parameters of reads are strict calendar dates", () => {
  const bad = ["2026-11-31T00:00Z", "2026-11-31", "2026-12-01T24:00Z", "2026-02-29", "2026-12-01T12:60Z"];
  for (const from of bad) {
    it(`answers 400 to from=${from}`, async () => {
      await withApp(async (f) => {
        for (const path of ["/v1/events", "/v1/metrics?eventType=t&step=1h&agg=count"]) {
          const sep = path.includes("?") ? "&" : "?";
          const res = await f.request(`${path}${sep}from=${encodeURIComponent(from)}`);
          expect(res.status).toBe(400);
          expect((await res.json()).errors).toEqual([{
            field: "from",
            message: "from must be epoch ms, ISO-8601 or now-<n>(s|m|h|d|w)",
          }]);
        }
      }, { clock: new FakeClock(NOW) });
    });
  }

  it("takes a leap day, a date alone and an offset", async () => {
    await withApp(async (f) => {
      for (const from of ["2024-02-29T00:00Z", "2026-12-01", "2026-12-01T00:00+05:30"]) {
        const res = await f.request(`/v1/events?from=${encodeURIComponent(from)}`);
        expect(res.status).toBe(200);
      }
    }, { clock: new FakeClock(NOW) });
  });
});
