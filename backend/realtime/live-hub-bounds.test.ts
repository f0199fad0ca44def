/**
 * The hub's bounds: bytes per subscriber and in total, a transport that takes
 * nothing, revoked keys, slots counted until the transport ended, and a
 * replay that waits for room instead of buffering.
 */
import { describe, expect, it } from "vitest";
import { LIVE_T, storedEvent } from "../testing/live-fixture.ts";
import { type LiveFilter, LiveHub, type LiveHubOptions, type OutMessage, type Sink } from "./live-hub.ts";
import { eventMessage, messageBytes } from "./live-messages.ts";

const T = LIVE_T;
const stored = (seq: number, deviceId = "a") => storedEvent(seq, deviceId, { pad: "x".repeat(200) });

const all: LiveFilter = { channels: new Set(["events"]), deviceIds: null, eventTypes: null, metadata: [] };

/** A sink whose sends complete only when `take()` is called; records closes. */
function manualSink() {
  const pending: { messages: OutMessage[]; resolve: () => void }[] = [];
  const taken: OutMessage[] = [];
  const closes: string[] = [];
  const sink: Sink = {
    send(messages) {
      return new Promise((resolve) => pending.push({ messages: [...messages], resolve }));
    },
    close(reason) {
      closes.push(reason);
      for (const p of pending.splice(0)) p.resolve();
    },
  };
  return {
    sink,
    taken,
    closes,
    get pending() {
      return pending.length;
    },
    take() {
      for (const p of pending.splice(0)) {
        taken.push(...p.messages);
        p.resolve();
      }
    },
  };
}

function hub(options: Partial<LiveHubOptions> & { clock?: { now: number } } = {}) {
  const clock = options.clock ?? { now: T };
  const logs: Record<string, unknown>[] = [];
  const h = new LiveHub({
    queueLimit: 100_000,
    replayLimit: 100_000,
    maxSubscribers: 100,
    maxSubscribersPerKey: 100,
    maxLags: 3,
    lagWindowMs: 60_000,
    coalesceMs: 0,
    maxBufferedBytes: 64 * 1024,
    maxTotalBufferedBytes: 1024 * 1024,
    sendTimeoutMs: 1000,
    keyCheckMs: 50,
    readEventsAfter: () => Promise.resolve([]),
    now: () => clock.now,
    log: (message, fields) => logs.push({ message, ...fields }),
    ...options,
  });
  return { hub: h, logs, clock };
}

const settle = (ms = 20) => new Promise((r) => setTimeout(r, ms));
const BYTES = messageBytes({ seq: 1, type: "event", data: "", body: new Uint8Array(0) }) +
  new TextEncoder().encode(JSON.stringify({ id: "e1" })).length; // a lower bound per event message

describe("LiveHub bounds", () => {
  it("closes a subscriber whose transport takes nothing, with a log line, once it lags past the byte bound", async () => {
    const { hub: h, logs } = hub();
    const stuck = manualSink();
    const reader = manualSink();
    h.subscribe("k", all, stuck.sink, null);
    h.subscribe("k", all, reader.sink, null);
    let seq = 0;
    for (let commit = 0; commit < 40; commit++) {
      h.publishEvents(Array.from({ length: 50 }, () => stored(++seq)));
      await settle(1);
      reader.take();
    }
    await settle();
    reader.take();
    expect(stuck.closes).toEqual(["subscriber too slow"]);
    expect(logs).toEqual([
      expect.objectContaining({
        message: "live subscriber closed",
        keyId: "k",
        reason: "subscriber too slow",
      }),
    ]);
    // The reader got every event, in order; the hub holds nothing for the closed one.
    expect(reader.taken.map((m) => m.seq)).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
    expect(h.counters.bufferedBytes).toBe(0);
    expect(h.counters.closed).toBe(1);
    expect(BYTES).toBeGreaterThan(64);
  });

  it("never holds more than the byte bound (plus one message) for one subscriber", async () => {
    const { hub: h } = hub({ maxLags: 1_000_000 });
    const stuck = manualSink();
    h.subscribe("k", all, stuck.sink, null);
    let peak = 0;
    for (let seq = 1; seq <= 3000; seq++) {
      h.publishEvents([stored(seq)]);
      peak = Math.max(peak, h.counters.bufferedBytes);
      if (seq === 1) await settle(1); // the first batch is in flight and never taken
    }
    expect(peak).toBeLessThanOrEqual(64 * 1024 + 2 * 1024);
    expect(peak).toBeGreaterThan(60 * 1024);
    expect(stuck.pending).toBe(1);
  });

  it("closes a subscriber whose transport takes nothing for sendTimeoutMs of real time", async () => {
    const clock = { now: T };
    const { hub: h, logs } = hub({ clock, sendTimeoutMs: 300, keyCheckMs: 50 });
    const stuck = manualSink();
    const reading = manualSink();
    h.subscribe("k", all, stuck.sink, null);
    h.subscribe("k", all, reading.sink, null);
    h.publishEvents([stored(1)]);
    clock.now += 3_600_000; // the injected clock jumping (fake time in tests) closes nothing
    for (let i = 0; i < 4; i++) {
      await settle(50);
      reading.take();
    }
    expect(stuck.closes).toEqual([]);
    await settle(300);
    reading.take();
    expect(stuck.closes).toEqual(["subscriber not reading"]);
    expect(reading.closes).toEqual([]);
    expect(logs).toEqual([expect.objectContaining({ reason: "subscriber not reading", subscriber: 1 })]);
  });

  it("closes the subscriber holding most when all together pass the total bound", async () => {
    const { hub: h } = hub({
      maxBufferedBytes: 600 * 1024,
      maxTotalBufferedBytes: 1024 * 1024,
      maxLags: 100,
    });
    const a = manualSink();
    const b = manualSink();
    const c = manualSink();
    h.subscribe("k", all, a.sink, null);
    h.publishEvents([stored(1)]);
    await settle(1); // a's first batch in flight; b and c subscribe later and hold less
    h.subscribe("k", all, b.sink, null);
    h.subscribe("k", { ...all, deviceIds: new Set(["c"]) }, c.sink, null);
    for (let seq = 2; seq <= 2500; seq++) h.publishEvents([stored(seq, seq % 10 === 0 ? "c" : "a")]);
    expect(h.counters.closed).toBe(1); // out of the fan-out at once; its transport on the next turn
    await settle(1);
    expect(a.closes).toEqual(["live buffers full"]);
    expect(b.closes).toEqual([]);
    expect(c.closes).toEqual([]);
    expect(h.counters.bufferedBytes).toBeLessThanOrEqual(1024 * 1024);
  });

  it("closes a subscriber that stopped reading before a larger reader when all together pass the total bound", async () => {
    const { hub: h, logs } = hub({
      maxBufferedBytes: 900 * 1024,
      maxTotalBufferedBytes: 1024 * 1024,
      maxLags: 100,
    });
    const stalled = manualSink();
    const reader = manualSink();
    const sub = (s: ReturnType<typeof manualSink>, deviceId: string) =>
      h.subscribe("k", { ...all, deviceIds: new Set([deviceId]) }, s.sink, null);
    sub(stalled, "a");
    sub(reader, "b");
    const size = messageBytes(eventMessage(stored(1)));
    let seq = 0;
    while ((seq + 1) * size < 400 * 1024) h.publishEvents([stored(++seq, "a")]);
    await settle(120); // ticks of 50 ms: the stalled one holds bytes and took nothing
    const stalledBytes = h.counters.bufferedBytes;
    // The reader's events arrive in a burst: it holds more than the stalled one when the total passes.
    while (h.counters.closed === 0) h.publishEvents([stored(++seq, "b")]);
    await settle(1); // transports are closed on the next timer turn
    expect({ stalled: stalled.closes, reader: reader.closes }).toEqual({
      stalled: ["live buffers full"],
      reader: [],
    });
    // What is left is the reader's alone, more than the stalled one held.
    expect(h.counters.bufferedBytes).toBeGreaterThan(stalledBytes);
    expect(h.counters.bufferedBytes).toBeLessThanOrEqual(1024 * 1024);
    expect(logs.map((l) => l.reason)).toEqual(["live buffers full"]);
    reader.take(); // its first batch
    expect(reader.taken.length).toBeGreaterThan(0);
    expect(reader.taken.every((m) => m.type === "event")).toBe(true);
  });

  it("counts a slot until the transport ended, not until the hub stopped writing", async () => {
    const { hub: h } = hub({ maxSubscribersPerKey: 2 });
    const first = manualSink();
    const releaseFirst = h.subscribe("k", all, first.sink, null).ended;
    h.subscribe("k", all, manualSink().sink, null);
    h.closeKey("k", "API key has been revoked");
    await settle(1);
    expect(first.closes).toEqual(["API key has been revoked"]);
    // Closed by the hub, but the connections are still open: the key's slots are still taken.
    expect(() => h.subscribe("k", all, manualSink().sink, null)).toThrow(
      "At most 2 live subscribers per API key",
    );
    expect(h.size).toBe(2);
    releaseFirst();
    releaseFirst(); // a second report of the same end frees nothing more
    expect(h.size).toBe(1);
    h.subscribe("k", all, manualSink().sink, null);
    expect(() => h.subscribe("k", all, manualSink().sink, null)).toThrow("per API key");
    expect(h.subscribe("other", all, manualSink().sink, null).ended).toBeTypeOf("function");
  });

  it("closes the subscriptions of a key that was revoked or expired, within one check period", async () => {
    const revoked = new Set<string>();
    const { hub: h } = hub({
      keyCheckMs: 50,
      keyProblem: (keyId) => Promise.resolve(revoked.has(keyId) ? "API key has been revoked" : null),
    });
    const [a, b, other] = [manualSink(), manualSink(), manualSink()];
    h.subscribe("k", all, a.sink, null);
    h.subscribe("k", all, b.sink, null);
    h.subscribe("k2", all, other.sink, null);
    await settle(120);
    expect(a.closes).toEqual([]);
    revoked.add("k");
    await settle(150);
    expect(a.closes).toEqual(["API key has been revoked"]);
    expect(b.closes).toEqual(["API key has been revoked"]);
    expect(other.closes).toEqual([]);
  });

  it("replays in pages that wait for the subscriber to take what it has, then goes live without gap", async () => {
    const events = Array.from({ length: 1000 }, (_, i) => stored(i + 1));
    let reads = 0;
    const { hub: h } = hub({
      maxBufferedBytes: 16 * 1024,
      readEventsAfter: (after, limit) => {
        reads++;
        return Promise.resolve(events.filter((e) => e.seq > after).slice(0, limit));
      },
    });
    h.publishEvents(events); // nobody listens yet: only the last seq is noted
    const sink = manualSink();
    h.subscribe("k", all, sink.sink, 0);
    await settle(30);
    // Without taking, the replay stops at the bound: it read at most one page ahead.
    expect(h.counters.bufferedBytes).toBeLessThanOrEqual(16 * 1024 + 1024);
    expect(reads).toBe(1);
    h.publishEvents([stored(1001)]);
    for (let i = 0; i < 200 && sink.taken.length < 1001; i++) {
      sink.take();
      await settle(2);
    }
    expect(sink.taken.map((m) => m.seq)).toEqual(Array.from({ length: 1001 }, (_, i) => i + 1));
    expect(reads).toBe(6); // five pages, then one that finds nothing after 1000 (1001 came live)
    expect(sink.closes).toEqual([]);
  });
  it("reads a page once for replays that start together, and hands them the same messages", async () => {
    const events = Array.from({ length: 1000 }, (_, i) => stored(i + 1));
    let reads = 0;
    const { hub: h } = hub({
      maxBufferedBytes: 1024 * 1024,
      maxTotalBufferedBytes: 16 * 1024 * 1024,
      readEventsAfter: (after, limit) => {
        reads++;
        return Promise.resolve(events.filter((e) => e.seq > after).slice(0, limit));
      },
    });
    h.publishEvents(events);
    const sinks = Array.from({ length: 5 }, () => manualSink());
    for (const s of sinks) h.subscribe("k", all, s.sink, 0);
    for (let i = 0; i < 200 && sinks.some((s) => s.taken.length < 1000); i++) {
      for (const s of sinks) s.take();
      await settle(2);
    }
    for (const s of sinks) {
      expect(s.taken.map((m) => m.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    }
    // Five full pages read once each, then each replay's own read of the (short) end.
    expect(reads).toBeLessThanOrEqual(5 + sinks.length);
    expect(sinks[4].taken.every((m, i) => m === sinks[0].taken[i])).toBe(true);
  });
});
