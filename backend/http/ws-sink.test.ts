/**
 * The WebSocket sink's wait on the socket's unsent bytes, in simulated time: a socket that
 * writes each frame on the next event-loop turn (Deno's WebSocket: `bufferedAmount` drops once
 * the frame was written, with no event) gets its next batch within milliseconds, one whose peer
 * stopped reading is checked at most every 10 ms, and a close ends a pending send.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { WSContext } from "hono/ws";
import { type OutMessage, outMessage } from "../realtime/live-messages.ts";
import { wsSink } from "./ws-sink.ts";

const FRAME_CHARS = 64 * 1024;

/** A socket whose peer takes every frame on the next turn, or (stalled) nothing at all. */
function fakeSocket(stalled: boolean) {
  let buffered = 0;
  const raw = {
    reads: 0,
    get bufferedAmount() {
      raw.reads++;
      return buffered;
    },
  };
  const sent: string[] = [];
  const closes: [number | undefined, string | undefined][] = [];
  const ws = {
    raw,
    readyState: 1,
    send(data: string) {
      sent.push(data);
      buffered += data.length;
      if (!stalled) setTimeout(() => (buffered -= data.length), 0);
    },
    close(code?: number, reason?: string) {
      closes.push([code, reason]);
    },
  };
  return { ws: ws as unknown as WSContext<unknown>, raw, sent, closes, drain: () => (buffered = 0) };
}

const batch = (
  seq: number,
): OutMessage[] => [outMessage(seq, "event", JSON.stringify({ p: "x".repeat(100) }))];
/** A frame of one 64 KiB text per batch: each fills the sink's pipeline. */
const frame = () => "f".repeat(FRAME_CHARS);

/** A sink on a stalled socket holding two frames, with a third send pending. */
async function stalledWithPendingSend() {
  const socket = fakeSocket(true);
  const sink = wsSink(socket.ws, { frame, graceMs: 500 });
  await sink.send(batch(1));
  await sink.send(batch(2));
  const third = { done: false };
  void sink.send(batch(3)).then(() => (third.done = true));
  return { socket, sink, third };
}

describe("wsSink", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("sends the next batch within 1 ms of the socket writing the previous ones, not a poll period later", async () => {
    const socket = fakeSocket(false);
    const sink = wsSink(socket.ws, { frame, graceMs: 500 });
    let done = 0;
    const writer = (async () => {
      for (let i = 1; i <= 6; i++) {
        await sink.send(batch(i));
        done++;
      }
    })();
    await vi.advanceTimersByTimeAsync(0);
    // Two frames go at once (the second fits the pipeline); the socket writes both on the next turn.
    expect({ done, sent: socket.sent.length }).toEqual({ done: 2, sent: 2 });
    await vi.advanceTimersByTimeAsync(1);
    expect({ done, sent: socket.sent.length }).toEqual({ done: 4, sent: 4 });
    await vi.advanceTimersByTimeAsync(1);
    expect({ done, sent: socket.sent.length }).toEqual({ done: 6, sent: 6 });
    await writer;
    expect(socket.closes).toEqual([]);
  });

  it("checks a socket whose peer stopped reading at most every 10 ms, and sends once it drained", async () => {
    const { socket, sink, third } = await stalledWithPendingSend();
    const before = socket.raw.reads;
    await vi.advanceTimersByTimeAsync(1000);
    // Checks at 1, 3, 7, 15 ms, then every 10 ms: 25, 35, ..., 995.
    expect({ reads: socket.raw.reads - before, third: third.done, sent: socket.sent.length })
      .toEqual({ reads: 4 + 98, third: false, sent: 2 });
    expect(sink.buffered!()).toBe(2 * FRAME_CHARS);
    socket.drain();
    await vi.advanceTimersByTimeAsync(10);
    expect({ third: third.done, sent: socket.sent.length }).toEqual({ third: true, sent: 3 });
  });

  it("ends a send pending on a stalled socket when closed, sends nothing more, closes with 4008 and the reason", async () => {
    const { socket, sink, third } = await stalledWithPendingSend();
    await vi.advanceTimersByTimeAsync(100);
    sink.close("subscriber not reading " + "r".repeat(200));
    await vi.advanceTimersByTimeAsync(10);
    expect(third.done).toBe(true);
    await sink.send(batch(4));
    expect(socket.sent.length).toBe(2);
    expect(socket.closes).toEqual([[4008, ("subscriber not reading " + "r".repeat(200)).slice(0, 120)]]);
  });

  it("serves many waiting sockets from one timer: each drained one is woken, the stalled ones wait", async () => {
    const readers = Array.from({ length: 20 }, () => fakeSocket(false));
    const stalled = Array.from({ length: 20 }, () => fakeSocket(true));
    const counts = new Map<unknown, number>();
    const sinks = [...readers, ...stalled].map((socket) => wsSink(socket.ws, { frame, graceMs: 500 }));
    const writers = [...readers, ...stalled].map((socket, n) => {
      const sink = sinks[n];
      counts.set(socket, 0);
      return (async () => {
        for (let i = 1; i <= 10; i++) {
          await sink.send(batch(i));
          counts.set(socket, i);
        }
      })();
    });
    await vi.advanceTimersByTimeAsync(10);
    expect(readers.map((r) => counts.get(r))).toEqual(readers.map(() => 10));
    expect(stalled.map((s) => counts.get(s))).toEqual(stalled.map(() => 2));
    await Promise.all(writers.slice(0, readers.length));
    for (const s of stalled) s.drain();
    await vi.advanceTimersByTimeAsync(10);
    expect(stalled.map((s) => s.sent.length)).toEqual(stalled.map(() => 4));
    // Closed, the stalled ones' pending sends end and their writers finish without sending more.
    for (const sink of sinks.slice(readers.length)) sink.close("subscriber not reading");
    await vi.advanceTimersByTimeAsync(10);
    await Promise.all(writers);
    expect(stalled.map((s) => [s.sent.length, s.closes.length])).toEqual(stalled.map(() => [4, 1]));
  });
});
