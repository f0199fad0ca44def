import { describe, expect, it } from "vitest";
import type { StoredEvent } from "../../shared/event.ts";
import { LIVE_T, storedEvent } from "../testing/live-fixture.ts";
import { FakeClock, withApp } from "../testing/with-app.ts";
import { type LiveFilter, LiveHub, type OutMessage, type Sink } from "./live-hub.ts";

const T = LIVE_T;
const stored = (seq: number, deviceId = "a") => storedEvent(seq, deviceId);

const filter = (deviceIds: string[] | null = null): LiveFilter => ({
  channels: new Set(["events"]),
  deviceIds: deviceIds && new Set(deviceIds),
  eventTypes: null,
  metadata: [],
});

/** A sink that records every batch it is handed. */
function recorder(): Sink & { batches: OutMessage[][] } {
  const batches: OutMessage[][] = [];
  return {
    batches,
    send(messages) {
      batches.push([...messages]);
      return Promise.resolve();
    },
    close() {},
  };
}

/** A hub on the fixture's real store (replays read from it). */
function hubOn(
  store: { readEventsAfter(a: number, l: number): Promise<StoredEvent[]> },
  limits: { queueLimit: number; coalesceMs: number },
) {
  return new LiveHub({
    ...limits,
    replayLimit: 1000,
    maxSubscribers: 10,
    maxSubscribersPerKey: 10,
    maxLags: 3,
    lagWindowMs: 60_000,
    maxBufferedBytes: 1024 * 1024,
    maxTotalBufferedBytes: 64 * 1024 * 1024,
    sendTimeoutMs: 10_000,
    keyCheckMs: 500,
    readEventsAfter: (afterSeq, limit) => store.readEventsAfter(afterSeq, limit),
    now: () => T,
  });
}

const settle = () => new Promise((r) => setTimeout(r, 30));

describe("LiveHub", () => {
  it("does not send again what a resume already read from the store when its commit is published", async () => {
    await withApp(async (f) => {
      const hub = hubOn(f.server.store, { queueLimit: 100, coalesceMs: 0 });
      const ingest = async (id: string) =>
        expect(
          (await f.request("/v1/events", {
            method: "POST",
            body: JSON.stringify({ id, deviceId: "a", eventType: "t", value: 1 }),
          })).status,
        ).toBe(202);
      await ingest("r1");
      await ingest("r2");
      const [first, second] = await f.server.store.readEventsAfter(0, 10);
      // The resume reads both from the store; this hub has not published them yet.
      const [all, onlyA] = [recorder(), recorder()];
      hub.subscribe("k", filter(), all, 0);
      hub.subscribe("k", filter(["a"]), onlyA, 0);
      await settle();
      hub.publishEvents([first, second]);
      hub.publishEvents([{ ...second, id: "r3", seq: second.seq + 1 }]);
      await settle();
      const seqs = (r: typeof all) => r.batches.flat().filter((m) => m.type === "event").map((m) => m.seq);
      expect(seqs(all)).toEqual([first.seq, second.seq, second.seq + 1]);
      expect(seqs(onlyA)).toEqual([first.seq, second.seq, second.seq + 1]);
    });
  });

  it("hands every unfiltered subscriber the same message objects, and a filtered one its matches", async () => {
    await withApp(async (f) => {
      const hub = hubOn(f.server.store, { queueLimit: 100, coalesceMs: 0 });
      const [one, two, onlyB] = [recorder(), recorder(), recorder()];
      hub.subscribe("k", filter(), one, null);
      hub.subscribe("k", filter(), two, null);
      hub.subscribe("k", filter(["b"]), onlyB, null);
      hub.publishEvents([stored(1), stored(2, "b"), stored(3), stored(4, "b"), stored(5)]);
      await settle();
      expect(one.batches.map((b) => b.map((m) => m.seq))).toEqual([[1, 2, 3, 4, 5]]);
      expect(two.batches[0]).toHaveLength(5);
      two.batches[0].forEach((m, i) => expect(m).toBe(one.batches[0][i]));
      expect(onlyB.batches.map((b) => b.map((m) => m.seq))).toEqual([[2, 4]]);
      expect(onlyB.batches[0][0]).toBe(one.batches[0][1]);
      expect(JSON.parse(one.batches[0][1].data)).toEqual({
        id: "e2",
        deviceId: "b",
        eventType: "t",
        value: 2,
        timestamp: "2026-11-22T12:00:00.000Z",
        receivedAt: "2026-11-22T12:00:00.000Z",
        partition: 0,
        metadata: null,
        data: null,
        seq: 2,
      });
      expect(hub.counters).toEqual({ delivered: 12, lagged: 0, closed: 0, bufferedBytes: 0 });
    }, { clock: new FakeClock(T) });
  });

  it("skips an unfiltered subscriber ahead when a commit overflows its queue, in one step per commit", async () => {
    await withApp(async (f) => {
      const hub = hubOn(f.server.store, { queueLimit: 150, coalesceMs: 10 });
      const sink = recorder();
      hub.subscribe("k", filter(), sink, null);
      // Two commits of 100 before the first write: the second does not fit behind the first, so
      // the backlog becomes one lag message and the newer commit follows it whole.
      hub.publishEvents(Array.from({ length: 100 }, (_, i) => stored(i + 1)));
      hub.publishEvents(Array.from({ length: 100 }, (_, i) => stored(i + 101)));
      await settle();
      expect(sink.batches).toHaveLength(1);
      const [lag, ...events] = sink.batches[0];
      expect(lag.type).toBe("lagged");
      expect(JSON.parse(lag.data)).toMatchObject({ missed: 100, skippedFromSeq: 1, resumeAfterSeq: 200 });
      expect(events.map((m) => m.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 101));
      expect(hub.counters).toEqual({ delivered: 101, lagged: 1, closed: 0, bufferedBytes: 0 });
    }, { clock: new FakeClock(T) });
  });

  it("coalesces the commits published within the delay into one write per subscriber", async () => {
    await withApp(async (f) => {
      const hub = hubOn(f.server.store, { queueLimit: 1000, coalesceMs: 10 });
      const sink = recorder();
      hub.subscribe("k", filter(), sink, null);
      for (let c = 0; c < 4; c++) hub.publishEvents([stored(2 * c + 1), stored(2 * c + 2)]);
      await settle();
      expect(sink.batches.map((b) => b.map((m) => m.seq))).toEqual([[1, 2, 3, 4, 5, 6, 7, 8]]);
    }, { clock: new FakeClock(T) });
  });
});
