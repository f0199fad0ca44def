import { describe, expect, it } from "vitest";
import { PayloadTooLargeError, ValidationError } from "../errors.ts";
import { UnparsableMarker } from "../ingest/ingest-service.ts";
import { JsonArraySplitter } from "./json-array-splitter.ts";
import { NdjsonSplitter } from "./ndjson-splitter.ts";
import { type ImportRecord, MAX_LINE_BYTES } from "./records.ts";

const encoder = new TextEncoder();

/** Feeds `text` in chunks of `size` bytes and returns every record. */
function split(splitter: NdjsonSplitter | JsonArraySplitter, text: string, size: number): ImportRecord[] {
  const bytes = encoder.encode(text);
  const out: ImportRecord[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(...splitter.feed(bytes.subarray(i, i + size)));
  out.push(...splitter.end());
  return out;
}

const view = (records: ImportRecord[]) =>
  records.map((r) => [r.line, r.index, r.item instanceof UnparsableMarker ? r.item.unparsable : r.item]);

describe("NdjsonSplitter", () => {
  const text = '{"a":"é,\\n"}\r\n\n  \n{"b":2}\nnope\n{"c":[3]}';
  const expected = [[1, undefined, { a: "é,\n" }], [4, undefined, { b: 2 }], [
    5,
    undefined,
    "line is not valid JSON",
  ], [6, undefined, { c: [3] }]];

  it("yields the same records whatever the chunk boundaries", () => {
    for (const size of [1, 2, 3, 7, 1000]) {
      expect(view(split(new NdjsonSplitter(), text, size))).toEqual(expected);
    }
  });

  it("refuses a line over the limit before buffering it whole", () => {
    const splitter = new NdjsonSplitter();
    splitter.feed(encoder.encode("{}\n"));
    splitter.feed(new Uint8Array(MAX_LINE_BYTES));
    expect(() => splitter.feed(new Uint8Array(1))).toThrow(
      new PayloadTooLargeError("Line 2 is longer than 1048576 bytes"),
    );
  });
});

describe("JsonArraySplitter", () => {
  const text = '\uFEFF [ {"s":"],[{\\"\\\\"}, \n [1,{"x":[]}] ,\n"str" , {} ]  \n';
  const expected = [[1, 0, { s: '],[{"\\' }], [2, 1, [1, { x: [] }]], [3, 2, "str"], [3, 3, {}]];

  it("yields the same elements whatever the chunk boundaries", () => {
    for (const size of [1, 2, 5, 1000]) {
      expect(view(split(new JsonArraySplitter(), text, size))).toEqual(expected);
    }
  });

  it("takes an empty array and a trailing comma, and refuses data after the array", () => {
    expect(split(new JsonArraySplitter(), " [ ] ", 1)).toEqual([]);
    expect(view(split(new JsonArraySplitter(), "[1,]", 1))).toEqual([[1, 0, 1]]);
    expect(() => split(new JsonArraySplitter(), "[1]\n[2]", 3)).toThrow(ValidationError);
  });
});
