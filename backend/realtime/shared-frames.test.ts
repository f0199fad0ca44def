import { describe, expect, it } from "vitest";
import type { OutMessage } from "./live-hub.ts";
import { SharedFrames } from "./shared-frames.ts";

const msg = (seq: number): OutMessage => ({ seq, type: "event", data: `{"n":${seq}}` });
const render = (messages: readonly OutMessage[]) => messages.map((m) => m.data).join("|");

describe("SharedFrames", () => {
  it("renders a batch once for every subscriber handed the same message objects", () => {
    const frames = new SharedFrames(render);
    const [a, b, c] = [msg(1), msg(2), msg(3)];
    // Three subscribers drained the same three messages into arrays of their own.
    const texts = [[a, b, c], [a, b, c], [a, b, c]].map((batch) => frames.frame(batch));
    expect(texts).toEqual(['{"n":1}|{"n":2}|{"n":3}', '{"n":1}|{"n":2}|{"n":3}', '{"n":1}|{"n":2}|{"n":3}']);
    expect(frames.counts).toEqual({ built: 1, reused: 2 });
  });

  it("renders a batch of equal text but other message objects anew", () => {
    const frames = new SharedFrames(render);
    expect(frames.frame([msg(1), msg(2)])).toBe('{"n":1}|{"n":2}');
    expect(frames.frame([msg(1), msg(2)])).toBe('{"n":1}|{"n":2}');
    expect(frames.counts).toEqual({ built: 2, reused: 0 });
  });

  it("tells apart batches of the same length, first and last message", () => {
    const frames = new SharedFrames(render);
    const [a, b, c, d] = [msg(1), msg(2), msg(3), msg(4)];
    expect(frames.frame([a, b, d])).toBe('{"n":1}|{"n":2}|{"n":4}');
    expect(frames.frame([a, c, d])).toBe('{"n":1}|{"n":3}|{"n":4}');
    expect(frames.frame([a, b])).toBe('{"n":1}|{"n":2}');
    expect(frames.counts).toEqual({ built: 3, reused: 0 });
  });

  it("keeps the four most recent batches, so a filtered subscriber in between does not evict them", () => {
    const frames = new SharedFrames(render);
    const all = [msg(1), msg(2), msg(3)];
    const batches = [all, [all[0]], [all[1]], [all[2]]];
    for (const batch of batches) frames.frame(batch);
    expect(frames.frame([...all])).toBe('{"n":1}|{"n":2}|{"n":3}');
    expect(frames.counts).toEqual({ built: 4, reused: 1 });
    frames.frame([msg(9)]); // a fifth batch: the oldest remembered one ([1]) goes
    frames.frame([all[0]]);
    expect(frames.counts).toEqual({ built: 6, reused: 1 });
  });
});
