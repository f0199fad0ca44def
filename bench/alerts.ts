/**
 * Alert evaluation cost: R rules over T event types (R/T rules per type, mixed
 * aggregates avg/max/count/p99/min/sum/p95/last over 1 m and 5 m windows, half
 * per device), D devices per type, data in stored 1-minute rollups. Each round
 * publishes the closed all-device 1-minute window of every type on the bus, as
 * the engine does when windows close, and waits until the evaluator has read
 * every rule's window (one metrics query per distinct shape), run the state
 * machine and committed the changes. Prints each round's time and the median.
 *
 *   deno run -A bench/alerts.ts [rules=1000] [types=100] [devices=10] [rounds=15] [windows=1m,5m]
 *     [--aggs=p99] [--group=device] [--silences=10] [--matchers=32] [--label-chars=1024] [--probe-ms=20]
 *     [--slice-ms=10]
 *
 * Options: `--aggs` replaces the aggregate mix (comma list), `--group` makes every rule per device
 * (`device`) or overall (`none`). `--silences=S --matchers=M` adds S silences of M matchers each:
 * M-1 different regular expressions that accept the rules' `note` label (`--label-chars` long, on
 * every rule) and a last matcher that refuses, so every silence is matched in full against every
 * label set and none silences. `--probe-ms=P` posts a single event through the HTTP app every P ms
 * during the rounds (open loop) and prints the latency percentiles, measured from when it was due
 * (a probe held up by a blocked loop counts the wait), and the event-loop lag of a 10 ms timer. `--slice-ms` and `--slice-changes` set
 * ALERTS_EVAL_SLICE_MS and ALERTS_EVAL_SLICE_CHANGES. `--profile=FILE` writes a CPU profile of the rounds
 * (`.cpuprofile`), prints the functions with the most self time, and prints each loop stall over 300 ms
 * (with the evaluation slices run meanwhile) and each probe over 100 ms as it happens. `--round-ms=R`
 * starts round r at R·r ms (instead of right after the previous one), so the probe sees idle time too.
 *
 * `windows` lists the rule windows (alternating, as many rules of each). A round is one minute: when
 * some rule's evaluation step is under a minute (a window that is not whole minutes, evaluated at
 * 1 s steps before PulseStream 0.1's follow-ups), each closed 1-second window of the minute is
 * published and evaluated first, so the figure is the evaluation cost per minute of stream time.
 *
 * Fake clock: the data is laid out around it, so every round reads real
 * buckets. While loading, a batch refused because the engine is behind its flushes
 * (STREAM_MAX_UNFLUSHED_DEVICES) waits for a flush and is sent again. The temp database is removed
 * at the end.
 */
import { openSqlDriver } from "../backend/adapters/sqlite/open-driver.ts";
import { loadConfig } from "../backend/config.ts";
import { createLogger } from "../backend/logger.ts";
import { OverloadedError } from "../backend/errors.ts";
import { createPulseStream } from "../backend/server.ts";
import type { EnrichedEvent } from "../shared/event.ts";
import { partitionOf } from "../shared/partition.ts";
import { startCpuProfile } from "./lib/cpu-profile.ts";
import { benchSilenceMatchers } from "./lib/silence-matchers.ts";

const positional = Deno.args.filter((a) => !a.startsWith("--"));
const flags = Object.fromEntries(
  Deno.args.filter((a) => a.startsWith("--")).map((a) => a.slice(2).split("=") as [string, string]),
);
const [rules = 1000, types = 100, devices = 10, rounds = 15] = positional.slice(0, 4).map(Number);
const windows = (positional[4] ?? "1m,5m").split(",");
const silences = Number(flags.silences ?? 0);
const matchers = Number(flags.matchers ?? 32);
const labelChars = Number(flags["label-chars"] ?? 1024);
const probeMs = Number(flags["probe-ms"] ?? 0);
const roundMs = Number(flags["round-ms"] ?? 0);
const MIN = 60_000;
const dir = await Deno.makeTempDir();
const config = loadConfig({
  DATABASE_URL: `file:${dir}/a.db`,
  LOG_LEVEL: "warn",
  BOOTSTRAP_API_KEY: "bench-key-0123456789abcdef",
  ROLLUP_FLUSH_MS: "60000",
  ALERTS_EVAL_INTERVAL_MS: "60000",
  ALERTS_MAX_RULES: String(Math.max(rules, 1)),
  ALERTS_MAX_SILENCES: String(Math.max(silences, 1)),
  ALERTS_MAX_LABELS: String(Math.max(matchers, 32)),
  ...(flags["slice-ms"] === undefined ? {} : { ALERTS_EVAL_SLICE_MS: flags["slice-ms"] }),
  ...(flags["slice-changes"] === undefined ? {} : { ALERTS_EVAL_SLICE_CHANGES: flags["slice-changes"] }),
});
const T0 = Math.floor(Date.now() / MIN) * MIN - 60 * MIN;
const clock = { current: T0, now: () => clock.current };
const server = await createPulseStream(config, {
  driver: await openSqlDriver(config.databaseUrl, { ...config.sqlite, preference: config.sqliteDriver }),
  logger: createLogger("warn"),
  clock,
  print: () => {},
});

// Data: one event per device every 10 s from 10 minutes before T0 to the end of the last round.
const typeNames = Array.from({ length: types }, (_, i) => `metric-${String(i).padStart(3, "0")}`);
const from = T0 - 10 * MIN;
const to = T0 + (rounds + 1) * MIN;
let n = 0;
let batch: EnrichedEvent[] = [];
/** Commits a batch of the data set; while the engine is behind its flushes (503), flushes first. */
async function load(events: EnrichedEvent[]): Promise<void> {
  while (true) {
    try {
      await server.committer.submit(events);
      return;
    } catch (error) {
      if (!(error instanceof OverloadedError)) throw error;
      await server.stream!.flush();
    }
  }
}
for (let ts = from; ts < to; ts += 10_000) {
  for (const eventType of typeNames) {
    for (let d = 0; d < devices; d++) {
      const deviceId = `dev-${d}`;
      batch.push({
        id: `e${n++}`,
        deviceId,
        eventType,
        value: 20 + ((n * 7) % 25),
        timestamp: ts,
        receivedAt: ts,
        partition: partitionOf(deviceId, config.partitions),
        metadata: null,
        data: null,
      });
      if (batch.length === 10_000) {
        await load(batch);
        batch = [];
      }
    }
  }
}
if (batch.length) await load(batch);
await server.stream!.flush();
console.log(`loaded ${n.toLocaleString("en")} events (${types} types x ${devices} devices), rollups flushed`);

const AGGS = flags.aggs?.split(",") ??
  ["avg", "max", "count", "p99", "avg", "min", "sum", "p95", "last", "avg"];
const note = "n".repeat(labelChars);
const perType = Math.ceil(rules / types);
for (let i = 0; i < rules; i++) {
  const t = i % types;
  const k = Math.floor(i / types) % perType;
  await server.alerting.service.createRule({
    name: `rule-${i}`,
    eventType: typeNames[t],
    aggregate: AGGS[k % AGGS.length],
    window: windows.length === 2 && windows[0] === "1m" && windows[1] === "5m"
      ? (k % 10 < 5 ? "1m" : "5m")
      : windows[k % windows.length],
    groupBy: flags.group ?? (k % 2 ? "device" : "none"),
    op: ">",
    threshold: 30 + (i % 20),
    for: "2m",
    annotations: { summary: "{{ $labels.deviceId }} at {{ $value }}" },
    ...(silences ? { labels: { note } } : {}),
  }, { id: "bench", address: null });
}
console.log(`${rules} rules created, heap ${(Deno.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);
for (let i = 0; i < silences; i++) {
  await server.alerting.service.createSilence({
    matchers: benchSilenceMatchers(i, matchers),
    startsAt: new Date(T0 - MIN).toISOString(),
    endsAt: new Date(T0 + 300 * MIN).toISOString(),
    comment: "bench",
  }, { id: "bench", address: null });
}
if (silences) console.log(`${silences} silences of ${matchers} matchers on a ${labelChars}-character label`);

// Starting the profiler holds the loop ~2 s: before the lag timer and the probe start.
const profiler = flags.profile ? await startCpuProfile() : null;
const probingStarted = performance.now();
// Event-loop lag: a 10 ms interval timer notes how late each run is (time the loop was held).
const lags: number[] = [];
let lastLagCheck = performance.now();
let lastSlices = 0;
const lagTimer = probeMs > 0
  ? setInterval(() => {
    const now = performance.now();
    lags.push(Math.max(0, now - lastLagCheck - 10));
    if (now - lastLagCheck > 300 && flags.profile) {
      console.log(
        `lag ${(now - lastLagCheck).toFixed(0)} ms ending at ${
          ((now - probingStarted) / 1000).toFixed(2)
        } s, slices ${server.alerting.evaluator.slices - lastSlices}`,
      );
    }
    lastSlices = server.alerting.evaluator.slices;
    lastLagCheck = now;
  }, 10)
  : undefined;

// The probe: one single event through the HTTP app every probeMs (open loop: each is sent when due,
// without waiting for the previous answer), latency from when it was due.
const probes: number[] = [];
const inFlight = new Set<Promise<void>>();
let probing = probeMs > 0;
const probeLoop = (async () => {
  let due = performance.now();
  let n = 0;
  while (probing) {
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const sentDue = due;
    const p = (async () => {
      const res = await server.app.request("http://bench/v1/events", {
        method: "POST",
        headers: { "x-api-key": "bench-key-0123456789abcdef", "content-type": "application/json" },
        body: JSON.stringify({ deviceId: "probe", eventType: "probe", value: n++, timestamp: clock.now() }),
      });
      await res.body?.cancel();
      if (res.status !== 202) throw new Error(`probe answered ${res.status}`);
      probes.push(performance.now() - sentDue);
      if (flags.profile && performance.now() - sentDue > 100) {
        console.log(
          `probe ${(performance.now() - sentDue).toFixed(0)} ms due at ${
            ((sentDue - probingStarted) / 1000).toFixed(2)
          } s`,
        );
      }
    })();
    inFlight.add(p);
    p.finally(() => inFlight.delete(p));
    due += probeMs;
  }
  await Promise.all(inFlight);
})();

/** Publishes the closed all-device window [end - resolution, end) of every type. */
function publishClosed(end: number, resolution: number): void {
  for (const eventType of typeNames) {
    server.bus.publish({
      kind: "window",
      final: true,
      resolution,
      eventType,
      deviceId: null,
      start: end - resolution,
      end,
      values: {} as never,
    });
  }
}
const seconds = windows.some((w) => !/^\d+[mhd]$/.test(w));

const times: number[] = [];
const dispatch: number[] = [];
let secondRounds = 0;
const roundsStarted = performance.now();
for (let r = 0; r < rounds; r++) {
  const wait = roundsStarted + r * roundMs - performance.now();
  if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  const end = T0 + r * MIN;
  const started = performance.now();
  if (seconds) {
    for (let s = 59; s >= 1; s--) {
      clock.current = end - s * 1000;
      publishClosed(clock.current, 1000);
      await server.alerting.evaluator.idle();
      if (server.alerting.evaluator.lastRound.at === clock.current) secondRounds++;
    }
  }
  clock.current = end;
  const tickStarted = performance.now();
  if (seconds) publishClosed(end, 1000);
  publishClosed(end, MIN);
  dispatch.push(performance.now() - tickStarted);
  await server.alerting.evaluator.idle();
  const ms = performance.now() - started;
  times.push(ms);
  const last = server.alerting.evaluator.lastRound;
  const firing = server.alerting.metricsSnapshot().alerts.firing;
  console.log(
    `round ${r + 1}: ${ms.toFixed(1)} ms (${last.rules} rules, ${last.queries} queries), firing ${
      firing.warning + firing.critical + firing.info
    }, heap ${(Deno.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`,
  );
}
const sorted = [...times].sort((a, b) => a - b);
const d = [...dispatch].sort((a, b) => a - b);
if (seconds) console.log(`${secondRounds} evaluation rounds at 1-second window closes`);
console.log(
  `median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms per round of ${rules} rules; ` +
    `bus dispatch of the ${types} closed windows (on the engine's tick) median ${
      (d[Math.floor(d.length / 2)] * 1000).toFixed(0)
    } µs`,
);
probing = false;
await probeLoop;
await profiler?.stop(flags.profile);
clearInterval(lagTimer);
if (probeMs) {
  const p = [...probes].sort((a, b) => a - b);
  const at = (q: number) => p[Math.min(p.length - 1, Math.floor(q * p.length))].toFixed(1);
  console.log(
    `ingest probe (single event every ${probeMs} ms, ${p.length} probes): p50 ${at(0.5)} ms, ` +
      `p99 ${at(0.99)} ms, max ${p.at(-1)!.toFixed(1)} ms; ${server.alerting.evaluator.slices} slices`,
  );
  const l = [...lags].sort((a, b) => a - b);
  console.log(
    `event-loop lag (10 ms timer, ${l.length} samples): p99 ${
      l[Math.floor(0.99 * l.length)].toFixed(1)
    } ms, max ${l.at(-1)!.toFixed(1)} ms`,
  );
}
const mem = Deno.memoryUsage();
console.log(
  `rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap used ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB`,
);
await server.close();
await Deno.remove(dir, { recursive: true });
