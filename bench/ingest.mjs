#!/usr/bin/env node
/**
 * Durable-ingestion benchmark for PulseStream, driven by autocannon.
 *
 *   node bench/ingest.mjs [--scenario <name|all>] [--duration <s>] [--connections <n>]
 *                         [--runs <n>] [--runtime deno|node] [--warmup <s>] [--rate <n>] [--json]
 *
 * Every run of every scenario starts its own server (child process, 127.0.0.1,
 * fresh temp directory and SQLite file), waits for GET /livez, loads it, checks
 * GET /health's `store.events` against the events the 2xx responses accepted,
 * reads the server's peak RSS (VmHWM of the process that owns the listening
 * socket), then stops the server (SIGTERM, SIGKILL after 5 s) and removes the
 * temp directory.
 *
 * Latency percentiles in the table are computed here from autocannon's
 * per-response times (2xx only, microsecond resolution, no coordinated-omission
 * correction); autocannon's own histogram (1 ms resolution, non-2xx included)
 * is kept in the --json output as `autocannonLatency`.
 */
import autocannon from "autocannon";
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const API_KEY = "bench-key-0123456789abcdef";
const HOST = "127.0.0.1";
const DEVICE_IDS = Array.from({ length: 100 }, (_, i) => `dev-${i}`);
const EVENT_TYPES = ["temperature", "humidity", "pressure"];

const SCENARIOS = {
  "single-saturate": { batch: 0, ids: false, connections: 64, rate: false },
  "single-rate": { batch: 0, ids: false, connections: 64, rate: true },
  "batch-generated": { batch: 1000, ids: false, connections: 8, rate: false },
  "batch-rate": { batch: 1000, ids: false, connections: 8, rate: true },
  "batch-uuid4": { batch: 1000, ids: true, connections: 8, rate: false },
  "single-uuid4": { batch: 0, ids: true, connections: 64, rate: false },
};

const USAGE = `usage: node bench/ingest.mjs [--scenario ${Object.keys(SCENARIOS).join("|")}|all] ` +
  `[--duration <s>=10] [--connections <n>] [--runs <n>=1] [--runtime deno|node] ` +
  `[--warmup <s>=0] [--rate <req/s>=5000] [--batch-size <n>=1000] [--json]`;

// ---------------------------------------------------------------- options

function parseOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        scenario: { type: "string", default: "all" },
        duration: { type: "string", default: "10" },
        connections: { type: "string" },
        runs: { type: "string", default: "1" },
        runtime: { type: "string", default: "deno" },
        warmup: { type: "string", default: "0" },
        rate: { type: "string", default: "5000" },
        "batch-size": { type: "string", default: "1000" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }));
  } catch (e) {
    die(`${e.message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (name, min, max, int = true) => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) {
      die(
        `--${name} must be ${int ? "an integer" : "a number"} from ${min} to ${max} (got ${
          values[name]
        })\n${USAGE}`,
      );
    }
    return n;
  };
  const scenarios = values.scenario === "all" ? Object.keys(SCENARIOS) : values.scenario.split(",");
  for (const s of scenarios) if (!SCENARIOS[s]) die(`unknown scenario ${s}\n${USAGE}`);
  if (!["deno", "node"].includes(values.runtime)) die(`--runtime must be deno or node\n${USAGE}`);
  return {
    scenarios,
    duration: num("duration", 1, 3600, false),
    connections: values.connections === undefined ? undefined : num("connections", 1, 10_000),
    runs: num("runs", 1, 100),
    runtime: values.runtime,
    warmup: num("warmup", 0, 600, false),
    rate: num("rate", 1, 10_000_000),
    batchSize: num("batch-size", 1, 10_000),
    json: values.json,
  };
}

function die(msg) {
  console.error(msg);
  process.exit(2);
}

// ---------------------------------------------------------------- machine

function machine() {
  let cpuModel = "unknown";
  try {
    const m = fs.readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m);
    if (m) cpuModel = m[1].trim();
  } catch { /* not Linux */ }
  let deno = "unknown";
  try {
    deno = execFileSync(path.join(ROOT, "node_modules/.bin/deno"), ["--version"], { encoding: "utf8" }).split(
      "\n",
    )[0];
  } catch { /* missing */ }
  return {
    cpuModel,
    cores: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    totalMemMiB: Math.round(os.totalmem() / 2 ** 20),
    loadAvg: os.loadavg().map((x) => Number(x.toFixed(2))),
    node: process.version,
    deno,
    kernel: `${os.type()} ${os.release()}`,
  };
}

// ---------------------------------------------------------------- /proc helpers (Linux)

function readStat(pid) {
  // Fields after the ")" of comm: state ppid ... utime(14) stime(15) ... starttime(22)
  const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), starttime: f[19] };
}

function tryStat(pid) {
  try {
    return readStat(pid);
  } catch {
    return null;
  }
}

/** PIDs of every live descendant of `root` (reads /proc only). */
function descendants(root) {
  const children = new Map();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = tryStat(name);
    if (!st) continue;
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(Number(name));
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    for (const c of children.get(stack.pop()) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

/** Inode of the IPv4 socket listening on 127.0.0.1:port, or null. */
function listeningInode(port) {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of fs.readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === want && f[3] === "0A") return f[9];
  }
  return null;
}

function ownsSocket(pid, inode) {
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return true;
      } catch { /* fd closed meanwhile */ }
    }
  } catch { /* process gone */ }
  return false;
}

/** Among the child and its descendants, the process that holds the listening socket. */
function findListener(childPid, port) {
  const inode = listeningInode(port);
  if (!inode) return null;
  for (const pid of [childPid, ...descendants(childPid)]) if (ownsSocket(pid, inode)) return pid;
  return null;
}

function memKiB(pid, field) {
  const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) : null;
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux
function cpuSeconds(pid) {
  const st = tryStat(pid);
  return st ? (st.utime + st.stime) / CLK_TCK : NaN;
}

// ---------------------------------------------------------------- server lifecycle

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let activeServer = null;

async function startServer(runtime) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pulsestream-bench-"));
  const port = await freePort();
  const [cmd, args] = runtime === "deno"
    ? [path.join(ROOT, "node_modules/.bin/deno"), ["run", "-A", "main.tsx"]]
    : [path.join(ROOT, "node_modules/.bin/tsx"), ["backend/adapters/node/main.ts"]];
  const env = {
    ...process.env,
    PORT: String(port),
    HOST,
    DATABASE_URL: `file:${path.join(dir, "bench.db")}`,
    BOOTSTRAP_API_KEY: API_KEY,
    LOG_LEVEL: "warn",
    // Measure ingestion, not the per-key rate limit (default 10,000 events/s); override by setting these.
    RATE_LIMIT_EVENTS_PER_SEC: process.env.RATE_LIMIT_EVENTS_PER_SEC ?? "1000000000",
    RATE_LIMIT_BURST: process.env.RATE_LIMIT_BURST ?? "1000000000",
  };
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  const server = {
    child,
    dir,
    port,
    pid: null,
    tracked: [],
    exited: false,
    exitInfo: null,
    logLines: [],
    shown: 0,
  };
  activeServer = server;
  const onLine = (line) => {
    if (!line.trim() || line.includes('did you mean to run "deno serve"')) return;
    server.logLines.push(line);
    if (server.logLines.length > 50) server.logLines.shift();
    if (server.shown++ < 20) console.log(`  [server] ${line.slice(0, 300)}`);
    else if (server.shown === 21) console.log("  [server] ... (further server output suppressed)");
  };
  for (const stream of [child.stdout, child.stderr]) {
    let buf = "";
    stream.setEncoding("utf8");
    stream.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  }
  server.exitPromise = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      server.exited = true;
      server.exitInfo = { code, signal };
      resolve();
    });
  });
  child.on("error", (e) => console.error(`  [server] spawn error: ${e.message}`));

  const base = `http://${HOST}:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (server.exited) {
      await stopServer(server);
      throw new Error(
        `server exited before it was live (${JSON.stringify(server.exitInfo)}):\n${
          server.logLines.join("\n")
        }`,
      );
    }
    try {
      const res = await fetch(`${base}/livez`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch { /* not yet listening */ }
    if (Date.now() > deadline) {
      await stopServer(server);
      throw new Error("server did not answer GET /livez with 200 within 90 s");
    }
    await sleep(100);
  }
  server.pid = findListener(child.pid, port);
  if (!server.pid) {
    await stopServer(server);
    throw new Error(`no process among child ${child.pid} and its descendants listens on ${HOST}:${port}`);
  }
  // Remember every process we started (with its start time, against PID reuse) for the final SIGKILL.
  server.tracked = [child.pid, ...descendants(child.pid)].map((pid) => ({
    pid,
    starttime: tryStat(pid)?.starttime,
  }));
  return server;
}

async function stopServer(server) {
  if (!server || server.stopped) return;
  server.stopped = true;
  if (!server.exited) {
    try {
      process.kill(server.child.pid, "SIGTERM");
    } catch { /* already gone */ }
    await Promise.race([server.exitPromise, sleep(5000)]);
  }
  // SIGKILL anything we started that is still alive (same PID *and* same start time).
  for (const { pid, starttime } of server.tracked.length ? server.tracked : [{ pid: server.child.pid }]) {
    const st = tryStat(pid);
    if (!st || (starttime !== undefined && st.starttime !== starttime)) continue;
    if (pid === server.child.pid && server.exited) continue;
    try {
      process.kill(pid, "SIGKILL");
      console.log(`  [bench] SIGKILLed server process ${pid} (still alive 5 s after SIGTERM)`);
    } catch { /* gone */ }
  }
  if (!server.exited) await Promise.race([server.exitPromise, sleep(2000)]);
  fs.rmSync(server.dir, { recursive: true, force: true });
  if (activeServer === server) activeServer = null;
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    console.error(`\n[bench] ${sig}: stopping the server and exiting`);
    await stopServer(activeServer).catch(() => {});
    process.exit(130);
  });
}

async function health(server) {
  const res = await fetch(`http://${HOST}:${server.port}/health`, { signal: AbortSignal.timeout(10_000) });
  const body = await res.json();
  return {
    events: body?.store?.events,
    queued: body?.queue?.queuedEvents ?? 0,
    status: res.status,
    stream: body?.stream ?? null,
  };
}

/** Waits until the stored count stops moving and the commit queue is empty (max 15 s). */
async function settledCount(server) {
  let last = null;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const h = await health(server);
    if (last && h.events === last.events && h.queued === 0) return h;
    if (Date.now() > deadline) return h;
    last = h;
    await sleep(250);
  }
}

// ---------------------------------------------------------------- bodies

const pick = (a) => a[(Math.random() * a.length) | 0];
const value = () => Math.round(Math.random() * 10_000) / 100;

function eventJson(withId) {
  const core = `"deviceId":"${pick(DEVICE_IDS)}","eventType":"${pick(EVENT_TYPES)}","value":${value()}`;
  return withId ? `{"id":"${randomUUID()}",${core}}` : `{${core}}`;
}

function batchJson(n, withIds) {
  const parts = new Array(n);
  for (let i = 0; i < n; i++) parts[i] = eventJson(withIds);
  return `[${parts.join(",")}]`;
}

// ---------------------------------------------------------------- one run

const TOTALS_RE = /"totals":\{"received":(\d+),"accepted":(\d+),"duplicate":(\d+),"rejected":(\d+)\}/;

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

async function runOnce(name, opts) {
  const sc = SCENARIOS[name];
  const batch = sc.batch ? opts.batchSize : 0;
  const connections = opts.connections ?? sc.connections;
  const server = await startServer(opts.runtime);
  try {
    const gen = { ms: 0, bodies: 0 };
    const counted = { accepted: 0, duplicate: 0, rejected: 0, unparsed: 0 };
    let lat = new Float64Array(1 << 16);
    let nLat = 0;
    let recording = false;

    const request = {
      method: "POST",
      path: "/v1/events",
      headers: { "x-api-key": API_KEY, "content-type": "application/json" },
      setupRequest(req) {
        const t0 = performance.now();
        req.body = batch ? batchJson(batch, sc.ids) : eventJson(sc.ids);
        gen.ms += performance.now() - t0;
        gen.bodies++;
        return req;
      },
      onResponse(status, body) {
        if (!recording || status < 200 || status >= 300) return;
        if (batch) {
          const m = TOTALS_RE.exec(body);
          if (!m) counted.unparsed++;
          else {
            counted.accepted += Number(m[2]);
            counted.duplicate += Number(m[3]);
            counted.rejected += Number(m[4]);
          }
        } else if (body.includes('"duplicate":true')) counted.duplicate++;
        else counted.accepted++;
      },
    };
    const cannonOpts = (duration) => ({
      url: `http://${HOST}:${server.port}`,
      connections,
      duration,
      timeout: 30,
      requests: [request],
      ...(sc.rate ? { overallRate: opts.rate, ignoreCoordinatedOmission: true } : {}),
    });
    const cannon = (duration) => {
      const inst = autocannon(cannonOpts(duration));
      inst.on("response", (_client, status, _bytes, ms) => {
        if (!recording || status < 200 || status >= 300) return;
        if (nLat === lat.length) {
          const bigger = new Float64Array(lat.length * 2);
          bigger.set(lat);
          lat = bigger;
        }
        lat[nLat++] = ms;
      });
      return inst;
    };

    if (opts.warmup > 0) await cannon(opts.warmup);
    const before = await settledCount(server);

    gen.ms = 0;
    gen.bodies = 0;
    const srvCpu0 = cpuSeconds(server.pid);
    const cli0 = process.cpuUsage();
    const wall0 = performance.now();
    recording = true;
    const r = await cannon(opts.duration);
    recording = false;
    const wallS = (performance.now() - wall0) / 1000;
    const cli = process.cpuUsage(cli0);
    const srvCpu = cpuSeconds(server.pid) - srvCpu0;

    const after = await settledCount(server);
    const peakRssKiB = memKiB(server.pid, "VmHWM");
    const rssKiB = memKiB(server.pid, "VmRSS");

    const sorted = lat.subarray(0, nLat).sort();
    const ok = r["2xx"];
    const stored = after.events - before.events;
    const expected = batch ? ok * batch : ok;
    const out = {
      scenario: name,
      runtime: opts.runtime,
      connections,
      batchSize: batch || 1,
      targetRate: sc.rate ? opts.rate : null,
      durationS: r.duration,
      requests: r.requests.total,
      requestsSent: gen.bodies,
      reqPerSec: r.requests.average,
      ok2xx: ok,
      ok2xxPerSec: ok / r.duration,
      eventsPerSec: (ok * (batch || 1)) / r.duration,
      non2xx: r.non2xx,
      statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats).map(([k, v]) => [k, v.count])),
      errors: r.errors,
      timeouts: r.timeouts,
      latencyMs: {
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        p99_9: percentile(sorted, 99.9),
        max: nLat ? sorted[nLat - 1] : null,
        samples: nLat,
      },
      autocannonLatency: {
        p50: r.latency.p50,
        p99: r.latency.p99,
        p99_9: r.latency.p99_9,
        max: r.latency.max,
      },
      storedEvents: stored,
      expectedEvents: expected,
      stream: after.stream
        ? {
          receiveToAggregateMs: after.stream.receiveToAggregateMs,
          lateEvents: after.stream.lateEvents,
          flushes: after.stream.flushes,
        }
        : null,
      acceptedFromResponses: counted,
      serverPid: server.pid,
      childPid: server.child.pid,
      peakRssMiB: peakRssKiB === null ? null : peakRssKiB / 1024,
      endRssMiB: rssKiB === null ? null : rssKiB / 1024,
      wallS,
      serverCpuS: srvCpu,
      serverCpuPct: (100 * srvCpu) / wallS,
      clientCpuPct: (100 * (cli.user + cli.system) / 1e6) / wallS,
      bodyGen: {
        bodies: gen.bodies,
        usPerBody: gen.bodies ? (1000 * gen.ms) / gen.bodies : 0,
        totalMs: gen.ms,
        pctOfWall: (100 * gen.ms) / (wallS * 1000),
      },
    };
    return out;
  } finally {
    await stopServer(server);
  }
}

// ---------------------------------------------------------------- reporting

const f = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? "-" : Number(x).toFixed(d));

function describeRun(res, label) {
  const l = res.latencyMs;
  const lines = [
    `  ${label}: ${f(res.reqPerSec, 0)} req/s (2xx ${f(res.ok2xxPerSec, 0)}/s` +
    (res.batchSize > 1 ? `, ${f(res.eventsPerSec, 0)} events/s` : "") +
    `)  latency p50 ${f(l.p50, 2)} ms  p99 ${f(l.p99, 2)} ms  p99.9 ${f(l.p99_9, 2)} ms` +
    (res.targetRate ? `  achieved ${f(res.ok2xxPerSec, 0)}/${res.targetRate} req/s` : ""),
    `    non-2xx ${res.non2xx} ${
      JSON.stringify(res.statusCodes)
    }  errors ${res.errors} (timeouts ${res.timeouts})  ` +
    `server pid ${res.serverPid}${res.serverPid !== res.childPid ? ` (child ${res.childPid})` : ""} ` +
    `peak RSS ${f(res.peakRssMiB, 1)} MiB  CPU server ${f(res.serverCpuPct)}% / client ${
      f(res.clientCpuPct)
    }%`,
    `    body generation: ${res.bodyGen.bodies} bodies, ${f(res.bodyGen.usPerBody, 1)} µs each, ` +
    `${f(res.bodyGen.pctOfWall, 1)}% of wall time (client thread)`,
    `    /health store.events: ${res.storedEvents} stored, expected ${res.expectedEvents} from 2xx` +
    ` (${res.requestsSent} requests sent, ${res.ok2xx} answered 2xx;` +
    ` responses say accepted ${res.acceptedFromResponses.accepted}, duplicate ${res.acceptedFromResponses.duplicate}` +
    `, rejected ${res.acceptedFromResponses.rejected})`,
  ];
  if (res.stream) {
    const s = res.stream.receiveToAggregateMs;
    lines.push(
      `    stream: receive → live aggregate p50 ${f(s.p50, 1)} ms  p95 ${f(s.p95, 1)} ms  p99 ${
        f(s.p99, 1)
      } ms ` +
        `over ${s.count} events (server-side, whole run incl. warm-up), late ${res.stream.lateEvents}; ` +
        `rollup flushes ${res.stream.flushes.count}, mean ${res.stream.flushes.meanMs} ms, max ${res.stream.flushes.maxMs} ms`,
    );
  } else lines.push("    stream: off");
  if (res.storedEvents !== res.expectedEvents) {
    const diff = res.storedEvents - res.expectedEvents;
    const inflight = res.connections * res.batchSize;
    lines.push(
      `    WARNING: stored events (${res.storedEvents}) != expected (${res.expectedEvents}), difference ${
        diff > 0 ? "+" : ""
      }${diff}` +
        (diff > 0 && diff <= inflight
          ? ` — within the ${inflight} events that can be in flight when autocannon stops (committed, response never read)`
          : ""),
    );
  }
  return lines.join("\n");
}

function median(xs) {
  const v = xs.filter((x) => typeof x === "number" && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function medianOf(runs) {
  const g = (fn) => median(runs.map(fn));
  return {
    reqPerSec: g((r) => r.reqPerSec),
    ok2xxPerSec: g((r) => r.ok2xxPerSec),
    eventsPerSec: g((r) => r.eventsPerSec),
    latencyMs: {
      p50: g((r) => r.latencyMs.p50),
      p99: g((r) => r.latencyMs.p99),
      p99_9: g((r) => r.latencyMs.p99_9),
    },
    non2xx: g((r) => r.non2xx),
    errors: g((r) => r.errors),
    peakRssMiB: g((r) => r.peakRssMiB),
    bodyGenPctOfWall: g((r) => r.bodyGen.pctOfWall),
  };
}

function table(rows) {
  const head = [
    "scenario",
    "run",
    "req/s",
    "2xx/s",
    "events/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "non2xx",
    "err",
    "stored",
    "expected",
    "peakRSS MiB",
  ];
  const body = rows.map((r) => [
    r.scenario,
    r.run,
    f(r.reqPerSec),
    f(r.ok2xxPerSec),
    f(r.eventsPerSec),
    f(r.latencyMs.p50, 2),
    f(r.latencyMs.p99, 2),
    f(r.latencyMs.p99_9, 2),
    f(r.non2xx),
    f(r.errors),
    r.storedEvents === undefined ? "" : String(r.storedEvents),
    r.expectedEvents === undefined ? "" : String(r.expectedEvents),
    f(r.peakRssMiB, 1),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ");
  return [fmt(head), w.map((n) => "-".repeat(n)).join("  "), ...body.map(fmt)].join("\n");
}

// ---------------------------------------------------------------- main

async function main() {
  const opts = parseOptions();
  const mach = machine();
  console.log(`PulseStream ingest benchmark — ${new Date().toISOString()}`);
  console.log(
    `machine: ${mach.cpuModel}, ${mach.cores} cores, ${mach.totalMemMiB} MiB RAM, ${mach.kernel}, load avg ${
      mach.loadAvg.join(" ")
    }`,
  );
  console.log(`runtimes: node ${mach.node}, ${mach.deno}; server runtime: ${opts.runtime}`);
  console.log(
    `options: scenarios ${opts.scenarios.join(",")}, duration ${opts.duration} s, runs ${opts.runs}` +
      `${opts.warmup ? `, warmup ${opts.warmup} s` : ""}${
        opts.connections ? `, connections ${opts.connections}` : ""
      }`,
  );
  if (opts.scenarios.includes("single-rate")) {
    console.log(
      "note: autocannon's overallRate paces per connection per 1-s window (each connection sends its share " +
        "back-to-back, then waits for the next second), so single-rate arrivals are bursty, not evenly spaced.",
    );
  }

  const results = [];
  const rows = [];
  for (const name of opts.scenarios) {
    const sc = SCENARIOS[name];
    console.log(
      `\n== ${name} (${sc.batch ? `${opts.batchSize}-event batches` : "single events"}` +
        `${sc.ids ? ", random UUIDv4 ids" : ", server-generated ids"}, ${
          opts.connections ?? sc.connections
        } connections` +
        `${sc.rate ? `, ${opts.rate} req/s` : ""})`,
    );
    const runs = [];
    for (let i = 1; i <= opts.runs; i++) {
      try {
        const res = await runOnce(name, opts);
        runs.push(res);
        rows.push({ ...res, run: String(i) });
        console.log(describeRun(res, opts.runs > 1 ? `run ${i}` : "result"));
      } catch (e) {
        console.log(`  run ${i} FAILED: ${e.message}`);
        runs.push({ scenario: name, error: e.message });
      }
    }
    const good = runs.filter((r) => !r.error);
    const med = good.length > 1 ? medianOf(good) : null;
    if (med) rows.push({ scenario: name, run: "median", ...med });
    results.push({ scenario: name, runs, median: med });
  }

  console.log(
    `\nsummary (${opts.runtime}, ${opts.duration} s per run; latency = 2xx responses, measured client-side)`,
  );
  console.log(table(rows));
  if (opts.json) console.log(JSON.stringify({ machine: mach, options: opts, results }));
  const failed = results.some((s) => s.runs.some((r) => r.error));
  process.exit(failed ? 1 : 0);
}

main().catch(async (e) => {
  console.error(e);
  await stopServer(activeServer).catch(() => {});
  process.exit(1);
});
