#!/usr/bin/env node
/**
 * Cost of the Prometheus instrumentation on ingest throughput: runs
 * bench/ingest.mjs with METRICS_INSTRUMENTATION=on and =off, interleaved
 * (off, on, off, on, …) so that a change in the shared machine's speed hits both
 * alike, and prints each run and the medians: throughput, and the server's CPU
 * time per stored event (less sensitive to other load on a shared machine than
 * throughput, since it counts only the server's own work).
 *
 *   flock /tmp/pulsestream-bench.lock node bench/instrumentation-cost.mjs \
 *     [--scenarios batch-generated,single-saturate] [--runs 3] [--duration 10] [--runtime deno]
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    scenarios: { type: "string", default: "batch-generated,single-saturate" },
    runs: { type: "string", default: "3" },
    duration: { type: "string", default: "10" },
    runtime: { type: "string", default: "deno" },
  },
});
const runs = Number(values.runs);
/** The median; the mean of the two middle values for an even count. */
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const results = {};
for (const scenario of values.scenarios.split(",")) {
  results[scenario] = { on: [], off: [] };
  for (let i = 0; i < runs; i++) {
    for (const mode of ["off", "on"]) {
      const out = execFileSync(process.execPath, [
        path.join(ROOT, "bench/ingest.mjs"),
        "--scenario",
        scenario,
        "--duration",
        values.duration,
        "--runtime",
        values.runtime,
        "--json",
      ], { cwd: ROOT, env: { ...process.env, METRICS_INSTRUMENTATION: mode }, encoding: "utf8" });
      const json = JSON.parse(out.trim().split("\n").pop());
      const r = json.results[0].runs[0];
      if (r.error) throw new Error(`${scenario} ${mode}: ${r.error}`);
      // Stored may exceed acknowledged by what was in flight when autocannon stopped (see ingest.mjs).
      const extra = r.storedEvents - r.expectedEvents;
      if (extra < 0 || extra > r.connections * r.batchSize) {
        throw new Error(`${scenario} ${mode}: ${r.storedEvents} stored, ${r.expectedEvents} acknowledged`);
      }
      // Server CPU seconds over the measured wall-clock window, per acknowledged event (the CPU was
      // sampled around the same window, so it is not rescaled by autocannon's own duration).
      r.cpuUsPerEvent = r.serverCpuS * 1e6 / (r.ok2xx * r.batchSize);
      results[scenario][mode].push(r);
      console.log(
        `${scenario} METRICS_INSTRUMENTATION=${mode} run ${i + 1}: ${r.eventsPerSec.toFixed(0)} events/s, ` +
          `${r.ok2xxPerSec.toFixed(0)} req/s, p99 ${r.latencyMs.p99?.toFixed(1)} ms, ` +
          `server CPU ${r.cpuUsPerEvent.toFixed(2)} µs/event`,
      );
    }
  }
}
console.log(
  "\n| scenario | instrumentation | events/s (runs) | median events/s | median p99 ms | server CPU µs/event (median) |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const [scenario, byMode] of Object.entries(results)) {
  const med = {};
  const cpu = {};
  for (const mode of ["off", "on"]) {
    const eps = byMode[mode].map((r) => r.eventsPerSec);
    med[mode] = median(eps);
    cpu[mode] = median(byMode[mode].map((r) => r.cpuUsPerEvent));
    const p99 = median(byMode[mode].map((r) => r.latencyMs.p99));
    console.log(
      `| ${scenario} | ${mode} | ${eps.map((e) => e.toFixed(0)).join(" / ")} | **${
        med[mode].toFixed(0)
      }** | ${p99.toFixed(1)} | ${cpu[mode].toFixed(2)} |`,
    );
  }
  // Each on run follows its off run within seconds: the median of the per-pair ratios cancels the
  // drift of a shared machine's speed better than the ratio of the two medians.
  const pairs = byMode.on.map((r, i) => r.eventsPerSec / byMode.off[i].eventsPerSec);
  const cpuPairs = byMode.on.map((r, i) => r.cpuUsPerEvent / byMode.off[i].cpuUsPerEvent);
  console.log(
    `cost of instrumentation (${scenario}): throughput ${((1 - med.on / med.off) * 100).toFixed(1)} % ` +
      `(median of paired runs ${((1 - median(pairs)) * 100).toFixed(1)} %), server CPU per event ` +
      `${((cpu.on / cpu.off - 1) * 100).toFixed(1)} % (paired ${
        ((median(cpuPairs) - 1) * 100).toFixed(1)
      } %)`,
  );
}
