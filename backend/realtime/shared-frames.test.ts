import { describe, expect, it } from "vitest";
import { type OutMessage, outMessage } from "./live-messages.ts";
import { SharedFrames, sseBatchBytes, wsBatchBytes, wsBatchText } from "./shared-frames.ts";

const msg = (seq: number): OutMessage => outMessage(seq, "event", `{"n":${seq}}`);
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

  it("writes SSE and WebSocket frames from each message's bytes, encoded once, byte for byte as the text", () => {
    const text = outMessage(7, "event", '{"name":"Grüße ✓ 🚀"}');
    const two = [msg(1), text];
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    expect(decode(sseBatchBytes(two))).toBe(
      'id: 1\nevent: event\ndata: {"n":1}\n\nid: 7\nevent: event\ndata: {"name":"Grüße ✓ 🚀"}\n\n',
    );
    expect(decode(wsBatchBytes(two))).toBe(wsBatchText(two));
    expect(JSON.parse(wsBatchText(two))).toEqual([
      { seq: 1, type: "event", data: { n: 1 } },
      { seq: 7, type: "event", data: { name: "Grüße ✓ 🚀" } },
    ]);
    expect(decode(wsBatchBytes([text]))).toBe('{"seq":7,"type":"event","data":{"name":"Grüße ✓ 🚀"}}');
    expect(wsBatchBytes([text]).length).toBe(new TextEncoder().encode(wsBatchText([text])).length);
    // The body bytes are the message's own: built once, copied into every frame.
    expect(text.body).toBe(text.body);
    expect(text.body.length).toBe(new TextEncoder().encode(text.data).length);
  });
});
