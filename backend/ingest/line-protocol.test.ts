/** The line protocol parser and the point → event mapping. */
import { describe, expect, it } from "vitest";
import { createEventValidator } from "../../shared/event-schema.ts";
import { DEFAULT_EVENT_LIMITS } from "../../shared/limits.ts";
import { hash128, parsePrecision, pointsToEvents } from "./line-points.ts";
import { parseLineProtocol } from "./line-protocol.ts";

const parse = (text: string) => parseLineProtocol(text, { maxLineLength: 1000 });
const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const mapping = {
  deviceTags: ["device", "deviceId"],
  limits: DEFAULT_EVENT_LIMITS,
  validator: createEventValidator(DEFAULT_EVENT_LIMITS),
};

describe("parseLineProtocol", () => {
  it("parses tags, every field type and the timestamp", () => {
    const { points, errors } = parse(
      'cpu,device=a,region=eu-1 value=0.5,n=-3i,u=7u,ok=t,off=FALSE,s="x y",e=1.5e3 1700000000000000000',
    );
    expect(errors).toEqual([]);
    expect(points).toHaveLength(1);
    const p = points[0];
    expect(p.measurement).toBe("cpu");
    expect([...p.tags]).toEqual([["device", "a"], ["region", "eu-1"]]);
    expect(Object.fromEntries(p.fields)).toEqual({
      value: { kind: "float", value: 0.5 },
      n: { kind: "integer", value: -3 },
      u: { kind: "unsigned", value: 7 },
      ok: { kind: "boolean", value: true },
      off: { kind: "boolean", value: false },
      s: { kind: "string", value: "x y" },
      e: { kind: "float", value: 1500 },
    });
    expect(p.timestamp).toBe("1700000000000000000");
    expect(p.line).toBe(1);
  });

  it("unescapes measurement, tag and field names and quoted strings", () => {
    const { points, errors } = parse(
      String.raw`my\ meas\,x,tag\ k\=1=v\,a\ b f\ k="say \"hi\" \\ \n"` + "\n",
    );
    expect(errors).toEqual([]);
    expect(points[0].measurement).toBe("my meas,x");
    expect([...points[0].tags]).toEqual([["tag k=1", "v,a b"]]);
    expect([...points[0].fields]).toEqual([["f k", { kind: "string", value: String.raw`say "hi" \ \n` }]]);
    expect(points[0].timestamp).toBeNull();
  });

  it("skips blank lines and comments, takes CRLF, and numbers lines as sent", () => {
    const text = "# a comment\r\n\n  m,device=a value=1 10\r\n\t\nm,device=b value=2\n";
    const { points, errors } = parse(text);
    expect(errors).toEqual([]);
    expect(points.map((p) => [p.line, p.tags.get("device"), p.timestamp])).toEqual([[3, "a", "10"], [
      5,
      "b",
      null,
    ]]);
    expect(points[0].text).toBe("m,device=a value=1 10");
  });

  it("keeps a quoted string across a line break and counts the lines after it", () => {
    const { points, errors } = parse('m,device=a s="two\nlines" 5\nbad\nm,device=b value=1');
    expect(points.map((p) => p.line)).toEqual([1, 4]);
    expect(points[0].fields.get("s")).toEqual({ kind: "string", value: "two\nlines" });
    expect(errors).toEqual([{ line: 3, message: "unable to parse 'bad': missing fields" }]);
  });

  it("reports each bad line with its number and reason, and parses the rest", () => {
    const text = [
      "m,device=a value=1", // 1 ok
      "m,device=a", // 2
      "m,device value=1", // 3
      "m,device=a value=abc", // 4
      "m,device=a value=1 12x", // 5
      'm,device=a s="open', // 6
      ",device=a value=1", // 7
      "m,device=a value=1 1 extra", // 8
      "m,device=a value=", // 9
      "m,device=a value=1i2", // 10
      "m,device=a value=NaN", // 11
      "m,device=a value=2 20", // 12 ok
    ].join("\n");
    const { points, errors } = parse(text);
    expect(points.map((p) => p.line)).toEqual([1, 12]);
    expect(errors.map((e) => [e.line, e.message.replace(/^unable to parse '.*': /, "")])).toEqual([
      [2, "missing fields"],
      [3, "missing tag value"],
      [4, 'invalid value of field "value": abc'],
      [5, 'bad timestamp "12x"'],
      [6, 'unterminated string in field "s"'],
      [7, "missing measurement"],
      [8, "unexpected text after the timestamp"],
      [9, 'missing field value of "value"'],
      [10, 'invalid value of field "value": 1i2'],
      [11, 'invalid value of field "value": NaN'],
    ]);
    expect(errors[0].message).toBe("unable to parse 'm,device=a': missing fields");
  });

  it("refuses a line over the length limit without parsing it", () => {
    const long = `m,device=a value=1,s="${"x".repeat(300)}"`;
    const { points, errors } = parseLineProtocol(`${long}\nm,device=a value=2`, { maxLineLength: 256 });
    expect(points).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expect(errors[0].line).toBe(1);
    expect(errors[0].message).toMatch(/line is longer than 256 characters$/);
  });
});

describe("pointsToEvents", () => {
  const map = (text: string, precision = parsePrecision("ns", "v2")!) =>
    pointsToEvents(parse(text).points, { precision, now: NOW, mapping });

  it("maps measurement, device tag, other tags, value and each numeric field", () => {
    const ns = `${NOW - 1000}123456`;
    const { events, errors } = map(`env,device=d1,site=x value=21.5,hum=40i,ok=true,note="n" ${ns}`);
    expect(errors).toEqual([]);
    const base = {
      deviceId: "d1",
      metadata: { site: "x" },
      data: { ok: true, note: "n" },
      timestamp: NOW - 1000,
    };
    expect(events).toEqual([
      { ...base, eventType: "env", value: 21.5, id: expect.stringMatching(/^lp-[0-9a-f]{32}$/) },
      { ...base, eventType: "env.hum", value: 40, id: expect.stringMatching(/^lp-[0-9a-f]{32}$/) },
    ]);
    expect(events[0].id).not.toBe(events[1].id);
    expect(map(`env,device=d1,site=x value=21.5,hum=40i,ok=true,note="n" ${ns}`).events).toEqual(events);
  });

  it("takes deviceId when device is absent, and a point without numeric fields is one event", () => {
    const { events } = map('door,deviceId=d2 open=true,who="ann"');
    expect(events).toEqual([{ deviceId: "d2", eventType: "door", data: { open: true, who: "ann" } }]);
  });

  it("applies each precision, truncating to milliseconds", () => {
    const s = Math.floor(NOW / 1000) - 60;
    const at = (precision: string, api: "v1" | "v2", ts: string) =>
      map(`m,device=a value=1 ${ts}`, parsePrecision(precision, api)!).events[0].timestamp;
    expect(at("s", "v2", `${s}`)).toBe(s * 1000);
    expect(at("ms", "v2", `${s * 1000 + 7}`)).toBe(s * 1000 + 7);
    expect(at("us", "v2", `${s * 1000 + 7}999`)).toBe(s * 1000 + 7);
    expect(at("ns", "v2", `${s * 1000 + 7}999999`)).toBe(s * 1000 + 7);
    expect(at("u", "v1", `${s * 1000}000`)).toBe(s * 1000);
    expect(at("n", "v1", `${s * 1000}000000`)).toBe(s * 1000);
    expect(at("m", "v1", `${Math.floor(s / 60)}`)).toBe(Math.floor(s / 60) * 60_000);
    expect(at("h", "v1", `${Math.floor(s / 3600)}`)).toBe(Math.floor(s / 3600) * 3_600_000);
    expect(parsePrecision("h", "v2")).toBeNull();
    expect(parsePrecision("u", "v2")).toBeNull();
    expect(parsePrecision("x", "v1")).toBeNull();
    expect(parsePrecision(undefined, "v1")).toBe("ns");
  });

  it("refuses a whole point when one of its events breaks a limit, with the validator's reason", () => {
    const { events, errors } = pointsToEvents(
      parse(
        [
          "m,site=x value=1", // no device tag
          "m,device=a value=1,big=1e200", // one field out of range: nothing of the point
          `m,device=a value=1 ${NOW + 3_600_000}`, // too far in the future (ms precision)
          "m,device=a value=1 -5",
          `m,device=a,${"k".repeat(70)}=v value=1`,
          "m,device=a value=3",
        ].join("\n"),
      ).points,
      { precision: "ms", now: NOW, mapping },
    );
    expect(events).toEqual([{ deviceId: "a", eventType: "m", value: 3 }]);
    expect(errors.map((e) => [e.line, e.field, e.message])).toEqual([
      [1, "deviceId", "deviceId: no device tag (device or deviceId)"],
      [2, "value", expect.stringMatching(/^value: value must be a finite number within/)],
      [3, "timestamp", "timestamp: timestamp is more than 300 s in the future"],
      [4, "timestamp", "timestamp: timestamps before 1970 are not supported"],
      [5, `metadata.${"k".repeat(70)}`, expect.stringMatching(/: metadata keys must be 1-64 characters/)],
    ]);
  });

  it("checks control characters in tags as the JSON ingest does", () => {
    const { events, errors } = map("m,device=a\u0001b value=1");
    expect(events).toEqual([]);
    expect(errors[0].message).toBe("deviceId: deviceId must not contain control characters");
  });
});

describe("hash128", () => {
  it("is stable, 32 hex digits, and differs for near inputs", () => {
    expect(hash128("abc")).toMatch(/^[0-9a-f]{32}$/);
    expect(hash128("abc")).toBe(hash128("abc"));
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(hash128(`m,device=a value=${i} 1700000000000`));
    expect(seen.size).toBe(20_000);
    expect(hash128("")).not.toBe(hash128("\u0000"));
  });
});
