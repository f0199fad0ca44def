/**
 * Cost per event on real traffic (issue 17): a fleet's history, not events stamped "now".
 *
 *   deno run -A bench/real-shape.ts [--events 1000000] [--devices 100] [--span 24h|7d|now]
 *     [--ids own|server] [--engine on|off] [--rounds 3] [--batch 1000] [--inflight 8]
 *     [--lines 5000] [--resend 0.02] [--duplicate 0.01] [--influx on|off] [--profile <dir>]
 *   (npm run bench:realshape -- <options>)
 *
 * Builds the events once (bench/lib/real-shape-data.ts): ~250-byte events of `devices` devices ×
 * 3 types with 6 metadata tags, spread evenly over the last 24 h or 7 d (or without a timestamp,
 * stamped by the server: `--span now`), `batch`-event JSON batches shuffled inside, a share of
 * exact resends of earlier batches' events and of duplicates inside a batch; the events' own
 * UUIDv4 ids or none (`--ids server`: the server generates them, so resends count as new events).
 * Then, per round, a fresh PulseStream server (Deno, `main.tsx`, `--engine off` sets
 * STREAM_PROCESSING=off) and — unless `--influx off` or `influxd` is not installed — a private
 * InfluxDB 1.x fed the same events as line protocol (measurement = eventType, tags deviceId +
 * metadata, fields value and id, ms precision; `lines` per POST), `inflight` requests outstanding.
 *
 * Per round and as medians: events/s (all events sent / wall time), server CPU-seconds per
 * million events (the server process's own utime+stime, all threads, from load start until the
 * events are stored and rolled up: the figure that holds on a shared machine), peak RSS (VmHWM)
 * and bytes on disk per stored event (PulseStream: database + WAL; InfluxDB: data + WAL after
 * the cache snapshot). Checks, each failing the run (exit 1): every answer 202 (204), acknowledged
 * new events = those sent (own ids: distinct ids), stored (GET /health store.events) =
 * acknowledged, rollups (sum of GET /v1/metrics step=1h agg=count over the range) = acknowledged,
 * InfluxDB points = distinct events. `--profile <dir>`: PulseStream runs with `--cpu-prof`, and the
 * profiles are summarised by ingest stage (bench/lib/cpu-profile-stages.ts), µs per event.
 */
import { buildRealShape, type IdMode } from "./lib/real-shape-data.ts";
import { influxRound, pulseRound, type RoundResult } from "./lib/real-shape-runs.ts";
import { influxVersion } from "./lib/influxdb.ts";
import { summariseProfiles } from "./lib/cpu-profile-stages.ts";

const USAGE = "usage: deno run -A bench/real-shape.ts [--events N] [--devices N] [--span 24h|7d|now] " +
  "[--ids own|server] [--engine on|off] [--rounds N] [--batch N] [--inflight N] [--lines N] " +
  "[--resend 0-1] [--duplicate 0-1] [--influx on|off] [--profile <dir>]";

const DEFAULTS: Record<string, string> = {
  events: "1000000",
  devices: "100",
  span: "24h",
  ids: "own",
  engine: "on",
  rounds: "3",
  batch: "1000",
  inflight: "8",
  lines: "5000",
  resend: "0.02",
  duplicate: "0.01",
  influx: "on",
  profile: "",
};
const SPANS: Record<string, number> = { "24h": 86_400_000, "7d": 7 * 86_400_000, now: 0 };

function die(message: string): never {
  console.error(`${message}\n${USAGE}`);
  Deno.exit(2);
}

function parseArgs(args: string[]): Record<string, string> {
  const values = { ...DEFAULTS };
  for (let i = 0; i < args.length; i += 2) {
    const key = args[i].replace(/^--/, "");
    if (!(key in DEFAULTS) || !args[i].startsWith("--") || args[i + 1] === undefined) {
      die(`bad option ${args[i]}`);
    }
    values[key] = args[i + 1];
  }
  return values;
}

function int(values: Record<string, string>, key: string, min: number, max: number): number {
  const n = Number(values[key]);
  if (!Number.isInteger(n) || n < min || n > max) die(`--${key} must be an integer from ${min} to ${max}`);
  return n;
}

function share(values: Record<string, string>, key: string): number {
  const n = Number(values[key]);
  if (!(n >= 0 && n < 0.5)) die(`--${key} must be a share from 0 to 0.5`);
  return n;
}

function oneOf<T extends string>(values: Record<string, string>, key: string, allowed: readonly T[]): T {
  if (!allowed.includes(values[key] as T)) die(`--${key} must be one of ${allowed.join(", ")}`);
  return values[key] as T;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (n: number | null, digits = 0) =>
  n === null || !Number.isFinite(n)
    ? "–"
    : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function describe(name: string, r: RoundResult): string {
  return `  ${name}: ${fmt(r.eventsPerSec)} events/s, ${fmt(r.cpuPerMillion, 1)} CPU-s per M events, ` +
    `peak RSS ${fmt(r.peakRssMiB)} MiB, ${fmt(r.bytesPerEvent, 1)} bytes/event; ${r.note}` +
    (r.failures.length ? `\n    FAIL: ${r.failures.join("; ")}` : "");
}

function summary(name: string, rounds: RoundResult[]): string {
  const rates = rounds.map((r) => r.eventsPerSec);
  const cpus = rounds.map((r) => r.cpuPerMillion);
  const rss = rounds.map((r) => r.peakRssMiB ?? NaN);
  return `| ${name} | ${rates.map((n) => fmt(n)).join(" / ")} → **${fmt(median(rates))}** | ` +
    `${cpus.map((n) => fmt(n, 1)).join(" / ")} → **${fmt(median(cpus), 1)}** | ` +
    `${fmt(median(rss))} (max ${fmt(Math.max(...rss))}) | ${
      fmt(median(rounds.map((r) => r.bytesPerEvent)), 1)
    } |`;
}

const values = parseArgs(Deno.args);
const opts = {
  events: int(values, "events", 1000, 100_000_000),
  devices: int(values, "devices", 1, 10_000_000),
  span: oneOf(values, "span", ["24h", "7d", "now"] as const),
  ids: oneOf<IdMode>(values, "ids", ["own", "server"]),
  engine: oneOf(values, "engine", ["on", "off"] as const) === "on",
  rounds: int(values, "rounds", 1, 20),
  batch: int(values, "batch", 1, 10_000),
  inflight: int(values, "inflight", 1, 256),
  lines: int(values, "lines", 1, 100_000),
  resend: share(values, "resend"),
  duplicate: share(values, "duplicate"),
  influx: oneOf(values, "influx", ["on", "off"] as const) === "on",
  profile: values.profile,
};

const influx = opts.influx ? await influxVersion() : null;
if (opts.influx && !influx) console.log("InfluxDB: skipped (no influxd on PATH; apt-get install influxdb)");
if (!opts.influx) console.log("InfluxDB: skipped (--influx off)");

const builtAt = performance.now();
const data = buildRealShape({
  events: opts.events,
  devices: opts.devices,
  spanMs: SPANS[opts.span],
  batchSize: opts.batch,
  linesPerWrite: opts.lines,
  ids: opts.ids,
  resend: opts.resend,
  duplicate: opts.duplicate,
  now: Date.now(),
});
const label = `PulseStream, ${opts.ids === "own" ? "own ids" : "server ids"}, ${
  opts.span === "now" ? "stamped now" : `${opts.span} spread`
}${opts.engine ? "" : ", stream processing off"}`;
console.log(
  `${fmt(data.sent)} events (${
    fmt(data.distinct)
  } distinct; resends ${opts.resend}, duplicates ${opts.duplicate}), ` +
    `${fmt(opts.devices)} devices × 3 types, ${
      opts.span === "now" ? "stamped now" : `spread over ${opts.span}`
    }, ` +
    `${data.batches.length} batches of ${opts.batch} (${fmt(data.meanJsonBytes)} JSON bytes/event), ` +
    `${data.writes.length} line-protocol writes of ${opts.lines} (${fmt(data.meanLineBytes)} bytes/line), ` +
    `${opts.inflight} in flight; built in ${fmt((performance.now() - builtAt) / 1000, 1)} s; ` +
    `load average ${Deno.loadavg().map((n) => n.toFixed(2)).join(" ")}`,
);

const pulse: RoundResult[] = [];
/** Per profiled round: µs per event by stage ("busy" for the total). */
const profiled: Map<string, number>[] = [];
const peer: RoundResult[] = [];
for (let round = 1; round <= opts.rounds; round++) {
  const profileDir = opts.profile ? `${opts.profile}/round-${round}` : undefined;
  if (profileDir) await Deno.mkdir(profileDir, { recursive: true });
  pulse.push(await pulseRound(data, { inflight: opts.inflight, engine: opts.engine, profileDir }));
  console.log(`round ${round} (load average ${Deno.loadavg()[0].toFixed(2)}):`);
  console.log(describe(label, pulse.at(-1)!));
  if (profileDir) profiled.push(printProfile(profileDir, data.sent));
  if (influx) {
    peer.push(await influxRound(data, { inflight: opts.inflight }));
    console.log(describe(influx, peer.at(-1)!));
  }
}

console.log(
  `\n| system | events/s (rounds → median) | server CPU-s per 1 M events | peak RSS MiB | bytes/event on disk |`,
);
console.log("| --- | --- | --- | --- | --- |");
console.log(summary(label, pulse));
if (influx) {
  console.log(summary(`${influx}, same events`, peer));
  const rate = median(pulse.map((r) => r.eventsPerSec)) / median(peer.map((r) => r.eventsPerSec));
  const cpu = median(pulse.map((r) => r.cpuPerMillion)) / median(peer.map((r) => r.cpuPerMillion));
  console.log(
    `\nPulseStream / InfluxDB (medians): rate ${rate.toFixed(2)}×, CPU per event ${cpu.toFixed(2)}×`,
  );
}
if (profiled.length > 1) {
  console.log(`\nCPU profile by stage, µs per event, median of ${profiled.length} rounds:`);
  const stages = [...new Set(profiled.flatMap((m) => [...m.keys()]))];
  const medians = stages.map((stage) => [stage, median(profiled.map((m) => m.get(stage) ?? 0))] as const);
  for (const [stage, us] of medians.sort((a, b) => b[1] - a[1])) {
    console.log(
      `| ${stage} | ${profiled.map((m) => fmt(m.get(stage) ?? 0, 2)).join(" / ")} → **${fmt(us, 2)}** |`,
    );
  }
}
const failed = [...pulse, ...peer].some((r) => r.failures.length > 0);
if (failed) console.log("FAIL: a check did not hold (see the rounds above)");
Deno.exit(failed ? 1 : 0);

function printProfile(dir: string, events: number): Map<string, number> {
  const { busyUs, stages } = summariseProfiles(dir);
  const perEvent = new Map([
    ["busy (all stages)", busyUs / events],
    ...stages.map((s) => [s.stage, s.us / events] as const),
  ]);
  console.log(`  CPU profile (${dir}): ${fmt(busyUs / 1e6, 1)} s busy = ${fmt(busyUs / events, 1)} µs/event`);
  for (const s of stages) {
    console.log(
      `    ${fmt(s.us / events, 2).padStart(7)} µs/event ${
        fmt((100 * s.us) / busyUs, 1).padStart(5)
      } %  ${s.stage}` +
        `  [${s.top.map((t) => `${t.name} ${fmt(t.us / events, 2)}`).join("; ")}]`,
    );
  }
  return perEvent;
}
