import { describe, expect, it } from "vitest";
import { FakeClock } from "../testing/with-app.ts";
import { type EngineEvent, StreamEngine, type TakenFlush } from "./engine.ts";
import { SeriesBudget } from "./series-budget.ts";

// Mid-hour, so a device's 1 h window stays open while it is idle.
const T0 = Date.parse("2026-11-22T12:10:00.000Z");
const HOUR = 3_600_000;

function setup(options: { maxSeries?: number; budget?: SeriesBudget } = {}) {
  const clock = new FakeClock(T0);
  const engine = new StreamEngine({
    partitions: 2,
    resolutions: [1000, 60_000, HOUR],
    storedMinResolution: 60_000,
    allowedLatenessMs: 5000,
    idleMs: 5000,
    clock,
    publish: () => {},
    wantsUpdates: () => false,
    maxSeries: options.maxSeries,
    budget: options.budget,
  });
  let seq = 0;
  const ev = (deviceId: string, value: number, eventType = "temp"): EngineEvent => ({
    seq: ++seq,
    deviceId,
    eventType,
    value,
    timestamp: clock.now(),
    receivedAt: clock.now(),
    partition: deviceId.length % 2,
  });
  /** Takes a flush and settles it as a store holding nothing before would. */
  const flush = (): TakenFlush => {
    const taken = engine.takeFlush();
    engine.flushed(taken, taken.batch.rollups.map((r) => r.state));
    return taken;
  };
  return { clock, engine, ev, flush };
}

const devices = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `dev-${from + i}`);

describe("SeriesBudget in the engine", () => {
  it("aggregates the first series per device and the rest only in the all-device windows", () => {
    const { engine, ev, flush } = setup({ maxSeries: 3 });
    engine.ingest(devices(5).map((d, i) => ev(d, i + 1)));
    engine.ingest([ev("dev-0", 10), ev("dev-4", 20)]);
    const { batch } = flush();
    const minute = batch.rollups.filter((r) => r.resolution === 60_000);
    // (Sorted as text: the all-device row, null, first.)
    expect(minute.map((r) => [r.deviceId, r.state.count, r.state.sum]).sort()).toEqual([
      [null, 7, 45],
      ["dev-0", 2, 11],
      ["dev-1", 1, 2],
      ["dev-2", 1, 3],
    ]);
    // Five devices in the all-device window's distinct count, also the two over budget.
    const all = minute.find((r) => r.deviceId === null)!;
    expect(engine.openWindows({ deviceId: null, resolution: 60_000 })[0].values.distinct).toBe(5);
    expect(all.state.devices).not.toBeNull();
    expect(batch.series.map((s) => [s.deviceId, s.state.count]).sort()).toEqual([
      [null, 7],
      ["dev-0", 2],
      ["dev-1", 1],
      ["dev-2", 1],
    ]);
    expect(engine.seriesFigures()).toEqual({
      trackedSeries: 3,
      maxSeries: 3,
      overBudgetEvents: 3,
      overBudgetSeries: 2,
      closedTypes: 1,
    });
    expect([engine.isTracked("temp", "dev-2"), engine.isTracked("temp", "dev-3")]).toEqual([true, false]);
    // No per-device state for the devices over budget: one pooled cell (same partition, same second).
    expect(engine.stateSizes()).toMatchObject({ cells: 3, pooledCells: 1 });
    expect(engine.openWindows({ deviceId: "dev-4" })).toEqual([]);
  });

  it("counts late events of series over budget in the all-device windows", () => {
    const { clock, engine, ev, flush } = setup({ maxSeries: 1 });
    engine.ingest([ev("dev-0", 1), ev("dev-1", 2)]);
    flush();
    clock.advance(10_000);
    engine.ingest([ev("dev-0", 0)]);
    engine.tick();
    const late = { ...ev("dev-1", 5), timestamp: T0 };
    engine.ingest([late]);
    expect(engine.lateEvents).toBe(1);
    const { batch } = flush();
    const minute = batch.rollups.filter((r) => r.resolution === 60_000).map((
      r,
    ) => [r.deviceId, r.state.count]);
    expect(minute.sort()).toEqual([[null, 2], ["dev-0", 1]]);
  });

  it("rebuilds from the catalogue: every stored device series tracked, a type with events over budget closed", () => {
    const budget = new SeriesBudget(10);
    budget.restore([
      { eventType: "temp", deviceId: null, count: 9 },
      { eventType: "temp", deviceId: "dev-0", count: 4 },
      { eventType: "temp", deviceId: "dev-1", count: 3 },
      { eventType: "rpm", deviceId: null, count: 2 },
      { eventType: "rpm", deviceId: "dev-0", count: 2 },
    ]);
    // temp counts 9 events but its devices only 7: two were over budget, so no new temp series.
    expect(budget.admit("temp", "dev-9")).toBe(false);
    expect(budget.admit("temp", "dev-1")).toBe(true);
    expect(budget.admit("rpm", "dev-9")).toBe(true);
    expect(budget.admit("hum", "dev-9")).toBe(true);
    expect(budget.figures()).toMatchObject({ trackedSeries: 5, overBudgetEvents: 1, closedTypes: 1 });
  });

  it("keeps tracking every stored series when the budget was lowered, and admits none", () => {
    const budget = new SeriesBudget(1);
    budget.restore(devices(3).map((d) => ({ eventType: "temp", deviceId: d, count: 1 })));
    expect(devices(4).map((d) => budget.admit("temp", d))).toEqual([true, true, true, false]);
    expect(budget.figures().trackedSeries).toBe(3);
  });

  it("is shared by a replay engine: it tracks what the live engine tracks and admits while there is room", () => {
    const budget = new SeriesBudget(2);
    budget.admit("temp", "dev-0");
    const { engine, ev, flush } = setup({ budget });
    engine.ingest([ev("dev-1", 1), ev("dev-2", 2), ev("dev-0", 3)]);
    const minute = flush().batch.rollups.filter((r) => r.resolution === 60_000);
    expect(minute.map((r) => [r.deviceId, r.state.count]).sort()).toEqual([[null, 3], ["dev-0", 1], [
      "dev-1",
      1,
    ]]);
    expect(budget.figures()).toMatchObject({ trackedSeries: 2, overBudgetEvents: 1 });
  });
});

describe("StreamEngine memory per device", () => {
  it("lets idle devices' cells, closed windows and series entries go once flushed", () => {
    const { clock, engine, ev, flush } = setup();
    engine.ingest(devices(1000).map((d, i) => ev(d, i)));
    engine.tick();
    expect(engine.stateSizes()).toEqual({
      cells: 1000,
      pooledCells: 0,
      deviceWindows: 0,
      allDeviceWindows: 0,
      series: 0,
    });
    flush();
    // Folded and flushed: each device has its open minute and hour (compact: the stored state).
    expect(engine.stateSizes()).toMatchObject({ cells: 1000, deviceWindows: 2000, series: 0 });
    clock.advance(2 * 60_000);
    engine.tick();
    flush();
    // Past the lateness and the minute: only the open hour is left per device.
    expect(engine.stateSizes()).toEqual({
      cells: 0,
      pooledCells: 0,
      deviceWindows: 1000,
      allDeviceWindows: 1,
      series: 0,
    });
    expect(engine.openWindows({ deviceId: "dev-7", resolution: HOUR })[0].values).toMatchObject({
      count: 1,
      sum: 7,
    });
    clock.advance(HOUR);
    engine.tick();
    flush();
    expect(engine.stateSizes()).toEqual({
      cells: 0,
      pooledCells: 0,
      deviceWindows: 0,
      allDeviceWindows: 0,
      series: 0,
    });
  });

  it("continues a flushed open window from the store's merged state", () => {
    const { engine, ev, flush } = setup();
    engine.ingest([ev("dev-0", 1), ev("dev-0", 3)]);
    flush();
    engine.ingest([ev("dev-0", 5)]);
    const taken = engine.takeFlush();
    const hour = taken.batch.rollups.findIndex((r) => r.resolution === HOUR && r.deviceId === "dev-0");
    // The store already held more for this bucket (e.g. from before a restart): its state wins.
    const merged = taken.batch.rollups.map((r) => r.state);
    merged[hour] = { ...merged[hour], count: 10, sum: 100 };
    engine.flushed(taken, merged);
    expect(engine.openWindows({ deviceId: "dev-0", resolution: HOUR })[0].values).toMatchObject({
      count: 10,
      sum: 100,
    });
  });
});
