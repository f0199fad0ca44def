import { describe, expect, it } from "vitest";
import { type SseFrame, SseParser } from "./sse-parser.ts";

/** The frames and the parser after pushing `chunks`, in order. */
function parse(chunks: string[]): { frames: SseFrame[]; parser: SseParser } {
  const frames: SseFrame[] = [];
  const parser = new SseParser((f) => frames.push(f));
  for (const c of chunks) parser.push(c);
  return { frames, parser };
}

/** What PulseStream's server sends: a comment on connecting, frames, and pings. */
const STREAM = ": connected\n\n" +
  'id: 41\nevent: event\ndata: {"deviceId":"d1","value":1}\n\n' +
  ": ping\n\n" +
  'id: 42\nevent: window\ndata: {"start":0}\n\n' +
  'event: close\ndata: {"reason":"bye"}\n\n';
const STREAM_FRAMES: SseFrame[] = [
  { type: "event", seq: 41, data: '{"deviceId":"d1","value":1}' },
  { type: "window", seq: 42, data: '{"start":0}' },
  { type: "close", seq: 42, data: '{"reason":"bye"}' }, // the last event id stays
];

describe("SseParser", () => {
  it("reads id, event and data fields, and skips comments", () => {
    expect(parse([STREAM]).frames).toEqual(STREAM_FRAMES);
  });

  it("gives the same frames however the chunks split the stream (every split point, and one character at a time)", () => {
    for (let i = 0; i <= STREAM.length; i++) {
      expect(parse([STREAM.slice(0, i), STREAM.slice(i)]).frames).toEqual(STREAM_FRAMES);
    }
    expect(parse([...STREAM]).frames).toEqual(STREAM_FRAMES);
  });

  it("joins multi-line data with a newline and drops only one space after the colon", () => {
    const { frames } = parse(["data: first\ndata:second\ndata:  third\ndata\ndata: \n\n"]);
    expect(frames).toEqual([{ type: "message", seq: 0, data: "first\nsecond\n third\n\n" }]);
  });

  it("accepts CRLF and CR line endings, also with a CRLF split between chunks", () => {
    const crlf = "id: 7\r\nevent: a\r\ndata: x\r\n\r\n";
    expect(parse([crlf]).frames).toEqual([{ type: "a", seq: 7, data: "x" }]);
    const cr = "id: 8\revent: b\rdata: y\r\r";
    expect(parse([cr]).frames).toEqual([{ type: "b", seq: 8, data: "y" }]);
    // "\r" ends one chunk and "\n" starts the next: one line break, not a blank line ending the frame
    const split = parse(["data: one\r", "\ndata: two\r", "\n\r", "\n"]);
    expect(split.frames).toEqual([{ type: "message", seq: 0, data: "one\ntwo" }]);
  });

  it("keeps the last event id for later frames; ignores an id with NUL; seq 0 for an empty or non-numeric id", () => {
    const { frames } = parse([
      "id: 5\ndata: a\n\n",
      "data: b\n\n",
      "id: 6\u0000\ndata: c\n\n",
      "id: abc\ndata: d\n\n",
      "id\ndata: e\n\n",
    ]);
    expect(frames.map((f) => [f.data, f.seq])).toEqual([["a", 5], ["b", 5], ["c", 5], ["d", 0], ["e", 0]]);
  });

  it("takes retry only when it is all digits", () => {
    expect(parse([]).parser.retryMs).toBeNull();
    expect(parse(["retry: 2500\n\n"]).parser.retryMs).toBe(2500);
    expect(parse(["retry: 2500\n", "retry: 1.5\nretry: -1\nretry: soon\n\n"]).parser.retryMs).toBe(2500);
    expect(parse(["retry: 3000\ndata: x\n\n"]).frames).toEqual([{ type: "message", seq: 0, data: "x" }]);
  });

  it("dispatches no frame without data, resets the event type after each frame, ignores unknown fields", () => {
    const { frames } = parse([
      "event: lonely\n\n",
      "event: typed\ndata: 1\n\n",
      "data: 2\n\n",
      "foo: bar\n:comment inside\ndata: 3\nevent\n\n",
    ]);
    expect(frames).toEqual([
      { type: "typed", seq: 0, data: "1" },
      { type: "message", seq: 0, data: "2" },
      { type: "message", seq: 0, data: "3" },
    ]);
  });

  it("never dispatches a frame the stream did not finish", () => {
    expect(parse(["id: 1\ndata: complete\n\nid: 2\ndata: cut off\n"]).frames).toEqual([
      { type: "message", seq: 1, data: "complete" },
    ]);
  });

  it("reads 10,000 frames from one chunk, in order", () => {
    const chunk = Array.from({ length: 10_000 }, (_, i) => `id: ${i + 1}\nevent: event\ndata: ${i}\n\n`).join(
      "",
    );
    const { frames } = parse([chunk]);
    expect(frames.length).toBe(10_000);
    expect(frames.every((f, i) => f.seq === i + 1 && f.data === String(i) && f.type === "event")).toBe(true);
  });
});
