/** The subscriber queue: order, batch limits, and shared arrays handed out whole. */
import { describe, expect, it } from "vitest";
import { messageBytes, type OutMessage, outMessage } from "./live-messages.ts";
import { MessageQueue } from "./message-queue.ts";

const msg = (seq: number, size = 10) => outMessage(seq, "event", "x".repeat(size));
const seqs = (ms: Iterable<OutMessage>) => [...ms].map((m) => m.seq);

describe("MessageQueue", () => {
  it("hands out a queued shared array as that array when it is the whole batch", () => {
    const q = new MessageQueue();
    const commit = [msg(1), msg(2), msg(3)];
    q.pushAll(commit);
    expect(q.take(1000, 64 * 1024)).toBe(commit);
    expect(q.length).toBe(0);
  });

  it("joins arrays and single messages in order, within the count and byte limits", () => {
    const q = new MessageQueue();
    q.pushAll([msg(1), msg(2)]);
    q.push(msg(3));
    q.push(msg(4));
    q.pushAll([msg(5), msg(6), msg(7)]);
    expect(q.length).toBe(7);
    expect(seqs(q)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(seqs(q.take(3, 1e9))).toEqual([1, 2, 3]);
    const size = messageBytes(msg(0));
    expect(seqs(q.take(100, 2 * size))).toEqual([4, 5]);
    expect(seqs(q.take(100, 1))).toEqual([6]); // at least one message, whatever its size
    expect(seqs(q)).toEqual([7]);
    expect(seqs(q.take(100, 1e9))).toEqual([7]);
    expect(q.take(100, 1e9)).toEqual([]);
  });

  it("never changes an array it handed out when more single messages come", () => {
    const q = new MessageQueue();
    q.push(msg(1));
    q.push(msg(2));
    const batch = q.take(100, 1e9);
    expect(seqs(batch)).toEqual([1, 2]);
    q.push(msg(3));
    expect(seqs(batch)).toEqual([1, 2]);
    expect(seqs(q.take(100, 1e9))).toEqual([3]);
  });

  it("keeps order over many takes of a long backlog, and empties on clear", () => {
    const q = new MessageQueue();
    for (let i = 1; i <= 5000; i++) q.pushAll([msg(i)]);
    const out: number[] = [];
    while (q.length > 3000) out.push(...seqs(q.take(7, 1e9)));
    expect(out).toEqual(Array.from({ length: out.length }, (_, i) => i + 1));
    expect(seqs(q)[0]).toBe(out.length + 1);
    q.clear();
    expect(q.length).toBe(0);
    expect(seqs(q)).toEqual([]);
  });
});
