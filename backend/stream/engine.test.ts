import { describe, expect, it } from "vitest";
import { FakeClock } from "../testing/with-app.ts";
import { type EngineEvent, type LiveMessage, StreamEngine } from "./engine.ts";
import { Agg } from "./aggregate.ts";

const T0 = Date.parse("2026-11-22T12:00:00.000Z");

function setup(options: { lateness?: number; idle?: number; partitions?: number } = {}) {
  const clock = new FakeClock(T0);
  const messages: LiveMessage[] = [];
  const latencies: number[] = [];
  const engine = new StreamEngine({
    partitions: options.partitions ?? 2,
    resolutions: [1000, 60_000, 3_600_000],
    storedMinResolution: 60_000,
    allowedLatenessMs: options.lateness ?? 5000,
    idleMs: options.idle ?? 5000,
    clock,
    publish: (m) => messages.push(m),
    onLatency: (ms) => latencies.push(ms),
  });
  let seq = 0;
  const ev = (deviceId: string, timestamp: number, value: number | null, partition = 0): EngineEvent => ({
    seq: ++seq,
    deviceId,
    eventType: "temp",
    value,
    timestamp,
    receivedAt: clock.now(),
    partition,
  });
  return { clock, engine, messages, latencies, ev };
}

const finals = (messages: LiveMessage[], resolution: number, deviceId: string | null) =>
  messages.filter((m) =>
    m.kind === "window" && m.final && m.resolution === resolution && m.deviceId === deviceId
  );

describe("StreamEngine windows and watermarks", () => {
  it("closes a 1 s window only when the watermark (max event time − lateness) passes its end", () => {
    const { clock, engine, messages, ev } = setup();
    engine.ingest([ev("a", T0 + 100, 1), ev("a", T0 + 999, 3), ev("a", T0 + 1000, 10)]);
    clock.advance(1000);
    engine.tick();
    expect(finals(messages, 1000, "a")).toEqual([]);
    // Event time reaches T0 + 6000: watermark T0 + 1000 closes [T0, T0 + 1s) and nothing later.
    clock.advance(5000);
    engine.ingest([ev("a", T0 + 6000, 0)]);
    engine.tick();
    const closed = finals(messages, 1000, "a");
    expect(closed.map((m) => [m.start, m.end])).toEqual([[T0, T0 + 1000]]);
    expect(closed[0].values).toMatchObject({ count: 2, sum: 4, min: 1, max: 3, avg: 2, last: 3 });
    expect(engine.watermarks()[0]).toBe(T0 + 1000);
  });

  it("lets an idle partition follow the clock, so all-device windows still close", () => {
    const { clock, engine, messages, ev } = setup({ lateness: 2000, idle: 3000 });
    engine.ingest([ev("a", T0 + 10, 5, 0)]);
    clock.advance(2999);
    engine.tick();
    expect(finals(messages, 1000, null)).toEqual([]);
    // Partition 1 never saw an event (idle from the start); partition 0 has been idle for 3 s now.
    clock.advance(1);
    engine.tick();
    expect(engine.watermarks()).toEqual([T0 + 1000, T0 + 1000]);
    const closed = finals(messages, 1000, null);
    expect(closed).toHaveLength(1);
    expect(closed[0].values).toMatchObject({ count: 1, distinct: 1, last: 5 });
  });

  it("closes all-device windows at most 5 minutes behind the clock, whatever a lagging partition does", () => {
    const { clock, engine, messages, ev } = setup({ lateness: 1000, idle: 60_000 });
    // Partition 0 keeps sending events 10 minutes old; partition 1 is idle.
    for (let s = 0; s < 3; s++) {
      engine.ingest([ev("old", T0 - 600_000 + s * 1000, s, 0)]);
      clock.advance(1000);
      engine.tick();
    }
    expect(engine.watermarks()[0]).toBeLessThan(T0 - 590_000);
    // Its own windows wait for its watermark; the all-device ones do not stay open behind it.
    expect(engine.openWindows({ deviceId: "old", resolution: 60_000 })).toHaveLength(1);
    expect(engine.openWindows({ deviceId: null, resolution: 1000 })).toEqual([]);
    expect(engine.openWindows({ deviceId: null, resolution: 60_000 })).toEqual([]);
    expect(finals(messages, 1000, null).map((m) => m.values.count)).toEqual([1, 1, 1]);
    const taken = engine.takeFlush();
    const minute = taken.batch.rollups.find((r) => r.deviceId === null && r.resolution === 60_000)!;
    expect(minute.state.count).toBe(3);
  });

  it("does not let a future timestamp push the watermark past the clock", () => {
    const { engine, ev } = setup({ lateness: 1000 });
    engine.ingest([ev("a", T0 + 240_000, 1)]);
    engine.tick();
    expect(engine.watermarks()[0]).toBe(T0 - 1000);
  });

  it("counts a late event, folds it into its minute and announces the corrected value after the flush", () => {
    const { clock, engine, messages, ev } = setup({ lateness: 1000, idle: 60_000 });
    engine.ingest([ev("a", T0 + 500, 2)]);
    clock.advance(70_000);
    engine.ingest([ev("a", T0 + 70_000, 4)]);
    engine.tick(); // watermark T0 + 69 s: the first minute closes
    const first = engine.takeFlush();
    engine.flushed(first, first.batch.rollups.map((r) => r.state));
    expect(finals(messages, 60_000, "a").map((m) => m.values.count)).toEqual([1]);

    engine.ingest([ev("a", T0 + 30_000, 6)]); // behind the watermark: late
    expect(engine.lateEvents).toBe(1);
    engine.tick();
    const second = engine.takeFlush();
    const minute = second.batch.rollups.find((r) =>
      r.resolution === 60_000 && r.deviceId === "a" && r.start === T0
    )!;
    expect(minute.state.count).toBe(1); // the delta holds only the late event
    // The store merges the delta into the stored bucket: count 2, values 2 and 6.
    const stored = Agg.fromState(
      first.batch.rollups.find((r) =>
        r === first.batch.rollups.find((x) => x.resolution === 60_000 && x.deviceId === "a" && x.start === T0)
      )!.state,
    );
    stored.merge(Agg.fromState(minute.state));
    engine.flushed(second, second.batch.rollups.map((r) => r === minute ? stored.toState() : r.state));
    const corrections = messages.filter((m) =>
      m.kind === "correction" && m.deviceId === "a" && m.resolution === 60_000
    );
    expect(corrections).toHaveLength(1);
    expect(corrections[0].values).toMatchObject({ count: 2, sum: 8, min: 2, max: 6, avg: 4 });
    // The late 1 s window is not announced as a live window.
    expect(finals(messages, 1000, "a").map((m) => m.start)).toEqual([T0]);
  });

  it("keeps a device's last value in commit order within one timestamp", () => {
    const { engine, ev } = setup();
    engine.ingest([ev("a", T0, 1), ev("a", T0, 2), ev("a", T0, 3)]);
    const [open] = engine.openWindows({ deviceId: "a", resolution: 1000 });
    expect(open.values.last).toBe(3);
  });

  it("hands every folded event to exactly one flush, and a failed flush's deltas to the next", () => {
    const { engine, ev } = setup();
    engine.ingest([ev("a", T0, 1), ev("b", T0 + 1, 2, 1)]);
    const first = engine.takeFlush();
    expect(first.batch.checkpoint).toBe(2);
    const minuteAll = (t: typeof first) =>
      t.batch.rollups.find((r) => r.resolution === 60_000 && r.deviceId === null)!.state.count;
    expect(minuteAll(first)).toBe(2);
    engine.flushFailed(first);
    engine.ingest([ev("a", T0 + 2, 3)]);
    const second = engine.takeFlush();
    expect(second.batch.checkpoint).toBe(3);
    expect(minuteAll(second)).toBe(3);
    expect(second.batch.series.find((s) => s.deviceId === null)!.state.count).toBe(3);
    engine.flushed(second, second.batch.rollups.map((r) => r.state));
    expect(engine.takeFlush().batch.rollups).toEqual([]);
  });

  it("publishes open-window updates at most once per tick per series, and only when asked", () => {
    const { engine, messages, ev } = setup();
    engine.ingest([ev("a", T0, 1), ev("a", T0 + 1, 2)]);
    engine.tick();
    const updates = messages.filter((m) => !m.final && m.deviceId === "a" && m.resolution === 1000);
    expect(updates).toHaveLength(1);
    expect(updates[0].values.count).toBe(2);
    engine.tick(); // nothing changed: no new update
    expect(messages.filter((m) => !m.final && m.deviceId === "a" && m.resolution === 1000)).toHaveLength(1);
  });

  it("records receive → aggregate latency for live events, not for replayed ones", () => {
    const { clock, engine, latencies, ev } = setup();
    const e = ev("a", T0, 1);
    clock.advance(7);
    engine.ingest([e]);
    engine.ingest([ev("a", T0, 1)], true);
    expect(latencies).toEqual([7]);
  });

  it("rejects resolutions that do not nest", () => {
    expect(() =>
      new StreamEngine({
        partitions: 1,
        resolutions: [1000, 7000, 60_000],
        storedMinResolution: 60_000,
        allowedLatenessMs: 0,
        idleMs: 1000,
        clock: new FakeClock(),
      })
    ).toThrow("each must divide the next");
  });
});
