/**
 * The validator's zod-free check of the common shape (`commonShape`) against the zod schema alone:
 * for every input, valid or not, both give the same result (the same event, or the same errors).
 */
import { describe, expect, it } from "vitest";
import { createEventValidator } from "./event-schema.ts";
import { DEFAULT_EVENT_LIMITS } from "./limits.ts";

const NOW = Date.UTC(2026, 11, 7, 12);
const validator = createEventValidator(DEFAULT_EVENT_LIMITS);
const same = (input: unknown) => {
  const fast = validator.validate(input, NOW);
  const zod = validator.validate(input, NOW, false);
  expect(fast).toEqual(zod);
  return fast;
};

/** An object nested `n` levels deep. */
const deep = (n: number): Record<string, unknown> => ({ a: n <= 1 ? 1 : deep(n - 1) });

const base = {
  id: "0190b2c4-1234-7abc-8def-0123456789ab",
  deviceId: "dev-01",
  eventType: "temperature",
  value: 21.5,
  timestamp: NOW - 60_000,
  metadata: { site: "berlin", floor: 3, ok: true, empty: "" },
  data: { a: [1, "x", { b: null }] },
};

describe("event validation without zod for the common shape", () => {
  it("accepts the common shapes exactly as the schema does", () => {
    for (
      const input of [
        base,
        { deviceId: "d", eventType: "t" },
        { ...base, value: null, timestamp: null, metadata: null, data: null, id: undefined },
        { ...base, timestamp: "2026-12-07T11:00:00Z" },
        { ...base, metadata: {}, data: {} },
        { ...base, value: -1e100, timestamp: 0 + NOW - 3_600_000 },
      ]
    ) expect(same(input).ok).toBe(true);
  });

  it.each([
    ["not an object", [1, 2]],
    ["null", null],
    ["unknown field", { ...base, extra: 1 }],
    ["empty id", { ...base, id: "" }],
    ["id pattern", { ...base, id: "a b" }],
    ["long id", { ...base, id: "x".repeat(129) }],
    ["missing deviceId", { eventType: "t" }],
    ["control char", { ...base, deviceId: "a\u0001" }],
    ["lone surrogate", { ...base, eventType: "a\ud800" }],
    ["long eventType", { ...base, eventType: "e".repeat(65) }],
    ["value string", { ...base, value: "1" }],
    ["value too big", { ...base, value: 1e101 }],
    ["value infinite", { ...base, value: Infinity }],
    ["timestamp fraction", { ...base, timestamp: 1.5 }],
    ["timestamp negative", { ...base, timestamp: -1 }],
    ["timestamp unsafe", { ...base, timestamp: 2 ** 60 }],
    ["timestamp future", { ...base, timestamp: NOW + 3_600_000 }],
    ["timestamp old", { ...base, timestamp: 1000 }],
    ["timestamp bad text", { ...base, timestamp: "yesterday" }],
    ["metadata array", { ...base, metadata: ["a"] }],
    ["metadata nested", { ...base, metadata: { a: { b: 1 } } }],
    ["metadata empty key", { ...base, metadata: { "": 1 } }],
    ["metadata __proto__", JSON.parse(`{"deviceId":"d","eventType":"t","metadata":{"__proto__":1}}`)],
    ["metadata too many", {
      ...base,
      metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])),
    }],
    ["metadata long value", { ...base, metadata: { a: "v".repeat(257) } }],
    ["metadata control value", { ...base, metadata: { a: "\n" } }],
    ["data array", { ...base, data: [1] }],
    ["data deep", { ...base, data: deep(40) }],
    ["data too big", { ...base, data: { a: "x".repeat(17_000) } }],
    ["data __proto__", JSON.parse(`{"deviceId":"d","eventType":"t","data":{"__proto__":{}}}`)],
    ["event __proto__", JSON.parse(`{"deviceId":"d","eventType":"t","__proto__":{}}`)],
  ])("answers as the schema does: %s", (_, input) => {
    expect(same(input).ok).toBe(false);
  });
});
