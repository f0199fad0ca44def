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
 *
 * `windows` lists the rule windows (alternating, as many rules of each). A round is one minute: when
 * some rule's evaluation step is under a minute (a window that is not whole minutes, evaluated at
 * 1 s steps before PulseStream 0.1's follow-ups), each closed 1-second window of the minute is
 * published and evaluated first, so the figure is the evaluation cost per minute of stream time.
 *
 * Fake clock: the data is laid out around it, so every round reads real
 * buckets. The temp database is removed at the end.
 */
import { openSqlDriver } from "../backend/adapters/sqlite/open-driver.ts";
import { loadConfig } from "../backend/config.ts";
import { createLogger } from "../backend/logger.ts";
import { createPulseStream } from "../backend/server.ts";
import type { EnrichedEvent } from "../shared/event.ts";
import { partitionOf } from "../shared/partition.ts";

const [rules = 1000, types = 100, devices = 10, rounds = 15] = Deno.args.slice(0, 4).map(Number);
const windows = (Deno.args[4] ?? "1m,5m").split(",");
const MIN = 60_000;
const dir = await Deno.makeTempDir();
const config = loadConfig({
  DATABASE_URL: `file:${dir}/a.db`,
  LOG_LEVEL: "warn",
  BOOTSTRAP_API_KEY: "bench-key-0123456789abcdef",
  ROLLUP_FLUSH_MS: "60000",
  ALERTS_EVAL_INTERVAL_MS: "60000",
  ALERTS_MAX_RULES: String(Math.max(rules, 1)),
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
        await server.committer.submit(batch);
        batch = [];
      }
    }
  }
}
if (batch.length) await server.committer.submit(batch);
await server.stream!.flush();
console.log(`loaded ${n.toLocaleString("en")} events (${types} types x ${devices} devices), rollups flushed`);

const AGGS = ["avg", "max", "count", "p99", "avg", "min", "sum", "p95", "last", "avg"];
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
    groupBy: k % 2 ? "device" : "none",
    op: ">",
    threshold: 30 + (i % 20),
    for: "2m",
    annotations: { summary: "{{ $labels.deviceId }} at {{ $value }}" },
  }, { id: "bench", address: null });
}
console.log(`${rules} rules created`);

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
for (let r = 0; r < rounds; r++) {
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
    }`,
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
await server.close();
await Deno.remove(dir, { recursive: true });
