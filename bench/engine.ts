/**
 * Stream engine throughput in-process, on one core (no HTTP, no store): events
 * through partitioning + 1 s/1 m/1 h windows + DDSketch/HLL, with the engine's
 * ticks (every 250 ms of event time) and flush hand-offs (every second) included.
 *
 *   deno run -A bench/engine.ts [events=2000000] [devices=1000] [rate=10000]
 *
 * `rate` is the simulated event rate (events per second of event time), which
 * sets how many events share a 1 s cell. Prints events/s per run and the median.
 */
import { type EngineEvent, StreamEngine } from "../backend/stream/engine.ts";
import { partitionOf } from "../shared/partition.ts";

const [total = 2_000_000, devices = 1000, rate = 10_000] = Deno.args.map(Number);
const T0 = Date.parse("2026-11-22T12:00:00.000Z");
const BATCH = 1000;

function run(): { eventsPerSec: number; heapMb: number } {
  let now = T0;
  const engine = new StreamEngine({
    partitions: 8,
    resolutions: [1000, 60_000, 3_600_000],
    storedMinResolution: 60_000,
    allowedLatenessMs: 5000,
    idleMs: 5000,
    clock: { now: () => now },
    publish: Deno.env.get("NOPUB") ? undefined : () => {},
    wantsUpdates: () => false,
  });
  const names = Array.from({ length: devices }, (_, i) => `device-${i}`);
  const partitions = names.map((d) => partitionOf(d, 8));
  // Events are built before timing, in batches as the committer would hand them over.
  const batches: EngineEvent[][] = [];
  for (let b = 0; b < total / BATCH; b++) {
    const batch: EngineEvent[] = new Array(BATCH);
    for (let i = 0; i < BATCH; i++) {
      const n = b * BATCH + i;
      const d = (n * 7919) % devices;
      const ts = T0 + Math.floor((n * 1000) / rate);
      batch[i] = {
        seq: n + 1,
        deviceId: names[d],
        eventType: n % 10 === 0 ? "pressure" : "temperature",
        value: 20 + ((n * 13) % 100) / 10,
        timestamp: ts,
        receivedAt: ts,
        partition: partitions[d],
      };
    }
    batches.push(batch);
  }
  let nextTick = T0 + 250;
  let nextFlush = T0 + 1000;
  const t = performance.now();
  for (const batch of batches) {
    now = batch[BATCH - 1].timestamp;
    engine.ingest(batch);
    if (now >= nextTick) {
      engine.tick();
      nextTick = now + 250;
    }
    if (now >= nextFlush) {
      const taken = engine.takeFlush();
      engine.flushed(taken, taken.batch.rollups.map((r) => r.state));
      nextFlush = now + 1000;
    }
  }
  const seconds = (performance.now() - t) / 1000;
  return { eventsPerSec: total / seconds, heapMb: Deno.memoryUsage().heapUsed / 2 ** 20 };
}

const results: number[] = [];
for (let r = 1; r <= 5; r++) {
  const { eventsPerSec, heapMb } = run();
  results.push(eventsPerSec);
  console.log(
    `run ${r}: ${Math.round(eventsPerSec).toLocaleString("en")} events/s (heap ${heapMb.toFixed(0)} MiB)`,
  );
}
results.sort((a, b) => a - b);
console.log(
  `median: ${Math.round(results[2]).toLocaleString("en")} events/s | ${total} events, ${devices} devices, ` +
    `${rate} events/s of event time, 8 partitions, resolutions 1s/1m/1h | deno ${Deno.version.deno}`,
);
