/**
 * Engine heap per device, in-process (no HTTP, no store): `devices` distinct
 * devices send one event each (at `rate` events per second of event time,
 * with the engine's ticks and flush hand-offs), then the clock moves on past
 * the lateness so that their cells and 1 min windows close and are flushed.
 * Prints the heap the engine holds per device at the peak (all open) and once
 * idle (their 1 h windows still open), and the tracked-series figures.
 *
 *   deno run -A --v8-flags=--expose-gc bench/engine-heap.ts [devices=200000] [maxSeries=devices] [rate=20000]
 */
import { type EngineEvent, StreamEngine } from "../backend/stream/engine.ts";
import { partitionOf } from "../shared/partition.ts";

const [devices = 200_000, maxSeriesArg, rate = 20_000] = Deno.args.map(Number);
const maxSeries = maxSeriesArg ?? devices;
// Mid-hour, so that every device's 1 h window stays open while it is idle.
const T0 = Date.parse("2026-11-22T12:10:00.000Z");
const BATCH = 1000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

function heap(): number {
  gc!();
  gc!();
  return Deno.memoryUsage().heapUsed;
}

let now = T0;
const before = heap();
const engine = new StreamEngine({
  partitions: 8,
  resolutions: [1000, 60_000, 3_600_000],
  storedMinResolution: 60_000,
  allowedLatenessMs: 5000,
  idleMs: 5000,
  clock: { now: () => now },
  publish: () => {},
  wantsUpdates: () => false,
  maxSeries,
});
const flush = () => {
  const taken = engine.takeFlush();
  // The store's merged state of a new bucket is the delta itself.
  engine.flushed(taken, taken.batch.rollups.map((r) => r.state));
};
let nextTick = T0 + 250;
let nextFlush = T0 + 1000;
const started = performance.now();
for (let b = 0; b < devices / BATCH; b++) {
  const batch: EngineEvent[] = new Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    const n = b * BATCH + i;
    const deviceId = `device-${n}`;
    const ts = T0 + Math.floor((n * 1000) / rate);
    batch[i] = {
      seq: n + 1,
      deviceId,
      eventType: "temperature",
      value: 20 + ((n * 13) % 100) / 10,
      timestamp: ts,
      receivedAt: ts,
      partition: partitionOf(deviceId, 8),
    };
  }
  now = batch[BATCH - 1].timestamp;
  engine.ingest(batch);
  if (now >= nextTick) {
    engine.tick();
    nextTick = now + 250;
  }
  if (now >= nextFlush) {
    flush();
    nextFlush = now + 1000;
  }
}
const ingestMs = performance.now() - started;
engine.tick();
const peak = heap() - before;
// Idle: past the lateness and the end of every minute window, ticked and flushed twice.
now += 2 * 60_000;
for (let i = 0; i < 2; i++) {
  engine.tick();
  flush();
}
const idle = heap() - before;
const { maxSeries: _, ...figures } = engine.seriesFigures();
console.log(JSON.stringify({
  devices,
  maxSeries,
  eventsPerSec: Math.round(devices / (ingestMs / 1000)),
  peakBytesPerDevice: Math.round(peak / devices),
  idleBytesPerDevice: Math.round(idle / devices),
  idleHeapMb: Math.round(idle / 2 ** 20),
  ...figures,
}));
