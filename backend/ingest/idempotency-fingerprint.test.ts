import { describe, expect, it } from "vitest";
import { canonicalJson, fingerprintOf, payloadFingerprint } from "./idempotency.ts";
import { UnparsableMarker } from "./ingest-service.ts";

describe("payloadFingerprint", () => {
  it("equals the fingerprint of the canonical JSON for every kind of value", () => {
    const values: unknown[] = [
      { kind: "single", items: [{ deviceId: "d", eventType: "t", value: 1.5 }] },
      {
        kind: "batch",
        items: [{ b: [1, { z: null, a: 'é\u0000"' }], a: true }, new UnparsableMarker("bad line 2")],
      },
      { kind: "batch", items: [] },
      [[], {}, "", 0, -0, 1e21, false],
      "plain",
      null,
    ];
    for (const v of values) expect(payloadFingerprint(v)).toBe(fingerprintOf(canonicalJson(v)));
  });

  it("walks nesting deeper than its recursion to the same fingerprint, without recursing", () => {
    let deep: unknown = "leaf";
    for (let i = 0; i < 1000; i++) deep = i % 2 ? [i, deep] : { z: i, a: deep };
    expect(payloadFingerprint(deep)).toBe(fingerprintOf(canonicalJson(deep)));
    let deeper: unknown = 1;
    for (let i = 0; i < 1_000_000; i++) deeper = [deeper];
    expect(payloadFingerprint(deeper)).toMatch(/^[0-9a-f]{16}1e8481$/); // 2,000,001 characters
  });

  it("ignores object key order and sees every other difference", () => {
    expect(payloadFingerprint({ a: 1, b: { c: 2, d: 3 } })).toBe(
      payloadFingerprint({ b: { d: 3, c: 2 }, a: 1 }),
    );
    expect(payloadFingerprint({ a: 1 })).not.toBe(payloadFingerprint({ a: 2 }));
    expect(payloadFingerprint([1, 2])).not.toBe(payloadFingerprint([2, 1]));
  });
});
