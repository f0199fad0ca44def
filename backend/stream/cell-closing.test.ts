import { describe, expect, it } from "vitest";
import { FakeClock } from "../testing/with-app.ts";
import { type EngineEvent, type LiveMessage, StreamEngine } from "./engine.ts";

const T0 = Date.parse("2026-11-22T12:00:00.000Z");

/** An engine of one partition; `listen` says whether open-window updates are wanted. */
function setup(listen: boolean) {
  const clock = new FakeClock(T0);
  const messages: LiveMessage[] = [];
  const engine = new StreamEngine({
    partitions: 1,
    resolutions: [1000, 60_000],
    storedMinResolution: 60_000,
    allowedLatenessMs: 2000,
    idleMs: 60_000,
    clock,
    publish: (m) => messages.push(m),
    wantsUpdates: () => listen,
  });
  let seq = 0;
  const ev = (deviceId: string, timestamp: number, value: number): EngineEvent => ({
    seq: ++seq,
    deviceId,
    eventType: "temp",
    value,
    timestamp,
    receivedAt: clock.now(),
    partition: 0,
  });
  return { clock, engine, messages, ev };
}

/** Events of 3 devices over 20 s whose cells open out of start order (later seconds first). */
function traffic(ev: (d: string, t: number, v: number) => EngineEvent): EngineEvent[] {
  const out: EngineEvent[] = [];
  for (const s of [19, 3, 11, 0, 7, 15, 1, 18, 5, 9]) {
    for (const d of ["a", "b", "c"]) out.push(ev(d, T0 + s * 1000 + 500, s));
  }
  return out;
}

describe("StreamEngine cell closing (cells indexed by start)", () => {
  it.each([false, true])(
    "closes exactly the cells behind the watermark, tick by tick, cells opened out of order (listening: %s)",
    (listen) => {
      const { clock, engine, messages, ev } = setup(listen);
      engine.ingest(traffic(ev));
      expect(engine.stateSizes().cells).toBe(30);
      // The watermark follows the clock's event time (max event time 19.5 s, minus 2 s lateness).
      const open: number[] = [];
      for (const at of [4_000, 9_000, 12_000, 25_000]) {
        clock.current = T0 + at;
        engine.tick();
        open.push(engine.stateSizes().cells);
      }
      // Watermark min(19.5 s, clock) − 2 s = 2, 7, 10, 17.5 s: each closes the seconds ending by it.
      expect(open).toEqual([3 * 8, 3 * 6, 3 * 4, 3 * 2]);
      // A late event for a closed second opens a late cell, which the next tick closes.
      engine.ingest([ev("a", T0 + 2500, 99)]);
      expect(engine.stateSizes().cells).toBe(7);
      engine.tick();
      expect(engine.stateSizes().cells).toBe(6);
      expect(engine.lateEvents).toBe(1);
      const cellFinals = messages.filter((m) => m.kind === "window" && m.final && m.resolution === 1000);
      // Finals of per-device cells only for listeners; the all-device 1 s windows always.
      expect(cellFinals.filter((m) => m.deviceId !== null).length).toBe(listen ? 24 : 0);
      expect(cellFinals.filter((m) => m.deviceId === null).map((m) => (m.start - T0) / 1000)).toEqual(
        [0, 1, 3, 5, 7, 9, 11, 15],
      );
    },
  );

  it.each([false, true])(
    "closes minute windows at the tick their watermark passes, and drops them after the flush (listening: %s)",
    (listen) => {
      const { clock, engine, messages, ev } = setup(listen);
      // Minute 0 and minute 1 of 3 devices.
      engine.ingest(["a", "b", "c"].flatMap((d) => [ev(d, T0 + 30_000, 1), ev(d, T0 + 90_000, 2)]));
      const minuteFinals = () =>
        messages.filter((m) => m.kind === "window" && m.final && m.resolution === 60_000)
          .map((m) => `${m.deviceId ?? "all"}@${(m.start - T0) / 60_000}`);
      const windowsOpen: number[] = [];
      // Ticks before, at and after the first minute's end (watermark = clock - 2 s, events up to 90 s).
      for (const at of [30_000, 61_000, 62_000, 62_250, 62_500, 100_000]) {
        clock.current = T0 + at;
        engine.tick();
        windowsOpen.push(engine.stateSizes().deviceWindows);
      }
      // Per-device windows: 2 minutes × 3 devices, kept (with their deltas) until a flush; without
      // listeners cells fold (and open their windows) only when they close.
      expect(windowsOpen).toEqual(listen ? [6, 6, 6, 6, 6, 6] : [0, 3, 3, 3, 3, 6]);
      expect(minuteFinals()).toEqual(listen ? ["a@0", "b@0", "c@0", "all@0"] : ["all@0"]);
      const taken = engine.takeFlush();
      engine.flushed(taken, taken.batch.rollups.map((r) => r.state));
      // The flush drops the closed minute 0; minute 1 stays open with its stored state.
      expect(engine.stateSizes().deviceWindows).toBe(3);
      clock.current = T0 + 200_000;
      engine.ingest([ev("a", T0 + 190_000, 3)]);
      engine.tick();
      expect(minuteFinals()).toEqual(
        listen ? ["a@0", "b@0", "c@0", "all@0", "a@1", "b@1", "c@1", "all@1"] : ["all@0", "all@1"],
      );
    },
  );
});
