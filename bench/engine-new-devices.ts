/**
 * The engine's cost of new tracked devices, in process (no HTTP, no store):
 * `devices` devices send one event each in 10-event batches, `maxSeries` of
 * them tracked, then one flush hand-off (`takeFlush`: the fold into every
 * window and series, and the deltas' encoding). Prints µs per device of
 * `ingest` and of `takeFlush`, for `runs` fresh engines (the first includes
 * compiling the hot paths). `--root <checkout>` measures another checkout's
 * engine (e.g. main's, as a baseline in the same sitting).
 *
 *   deno run -A bench/engine-new-devices.ts [devices=40000] [maxSeries=20000] [runs=3] [--root <checkout>]
 */
const args = [...Deno.args];
const rootAt = args.indexOf("--root");
const root = rootAt >= 0 ? args.splice(rootAt, 2)[1] : new URL("..", import.meta.url).pathname;
const [devices = 40_000, maxSeries = 20_000, runs = 3] = args.map(Number);
const { StreamEngine } = await import(`${root.replace(/\/$/, "")}/backend/stream/engine.ts`);

const now = Date.parse("2026-11-22T12:10:00.000Z");
for (let run = 1; run <= runs; run++) {
  const engine = new StreamEngine({
    partitions: 8,
    resolutions: [1000, 60_000, 3_600_000],
    storedMinResolution: 60_000,
    allowedLatenessMs: 5000,
    idleMs: 10_000,
    clock: { now: () => now },
    maxSeries,
  });
  const events = Array.from({ length: devices }, (_, i) => ({
    seq: i + 1,
    deviceId: `dev-${i}`,
    eventType: "t",
    value: i % 10,
    timestamp: now,
    receivedAt: now,
    partition: i % 8,
  }));
  let t = performance.now();
  for (let i = 0; i < devices; i += 10) engine.ingest(events.slice(i, i + 10));
  const ingestUs = ((performance.now() - t) * 1000) / devices;
  t = performance.now();
  const taken = engine.takeFlush();
  const takeUs = ((performance.now() - t) * 1000) / devices;
  console.log(
    `run ${run}: ${devices} new devices (${maxSeries} tracked): ingest ${ingestUs.toFixed(1)} µs/device, ` +
      `takeFlush ${takeUs.toFixed(1)} µs/device, ${taken.batch.rollups.length} rollup deltas`,
  );
}
