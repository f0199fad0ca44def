import { describe, expect, it } from "vitest";
import { parseTraceParent } from "./trace-context.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

describe("parseTraceParent", () => {
  it("reads the W3C example header", () => {
    expect(parseTraceParent(`00-${TRACE}-${PARENT}-01`)).toEqual({
      traceId: TRACE,
      parentId: PARENT,
      flags: 1,
    });
  });

  it("accepts a later version with extra fields, reading the first four", () => {
    expect(parseTraceParent(`cc-${TRACE}-${PARENT}-00-what-the-future-holds`)).toEqual({
      traceId: TRACE,
      parentId: PARENT,
      flags: 0,
    });
  });

  it.each([
    ["absent", undefined],
    ["empty", ""],
    ["uppercase hex", `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ["all-zero trace id", `00-${"0".repeat(32)}-${PARENT}-01`],
    ["all-zero parent id", `00-${TRACE}-${"0".repeat(16)}-01`],
    ["version ff", `ff-${TRACE}-${PARENT}-01`],
    ["version 00 with extra fields", `00-${TRACE}-${PARENT}-01-extra`],
    ["short trace id", `00-${TRACE.slice(1)}-${PARENT}-01`],
    ["non-hex flags", `00-${TRACE}-${PARENT}-0g`],
    ["missing flags", `00-${TRACE}-${PARENT}`],
  ])("ignores a %s header", (_, header) => {
    expect(parseTraceParent(header)).toBeNull();
  });
});
