/**
 * Demo traffic: `npm run simulate -- [options]` (Deno). N devices send realistic signals — a daily-ish
 * sine per device plus noise and occasional spikes — over several event types, in batches over HTTP,
 * with a configurable share of invalid, duplicate, unauthorized and late events. Prints live counts of
 * HTTP responses by status and of item outcomes every second; stops after --duration seconds (0: until
 * Ctrl-C).
 *
 *   --url http://127.0.0.1:8000  --key $KEY (or PULSESTREAM_KEY)  --devices 20  --rate 200 (events/s)
 *   --duration 0  --invalid 0.02  --duplicate 0.02  --unauthorized 0.01  --late 0.01
 */
import { parseArgs } from "node:util";

const { values: opts } = parseArgs({
  args: Deno.args,
  options: {
    url: { type: "string", default: Deno.env.get("PS") ?? "http://127.0.0.1:8000" },
    key: { type: "string", default: Deno.env.get("PULSESTREAM_KEY") ?? Deno.env.get("KEY") ?? "" },
    devices: { type: "string", default: "20" },
    rate: { type: "string", default: "200" },
    duration: { type: "string", default: "0" },
    invalid: { type: "string", default: "0.02" },
    duplicate: { type: "string", default: "0.02" },
    unauthorized: { type: "string", default: "0.01" },
    late: { type: "string", default: "0.01" },
  },
});

const num = (name: keyof typeof opts, min: number, max: number): number => {
  const v = Number(opts[name]);
  if (!Number.isFinite(v) || v < min || v > max) {
    console.error(`--${name} must be a number from ${min} to ${max}`);
    Deno.exit(2);
  }
  return v;
};
const devices = num("devices", 1, 100_000);
const rate = num("rate", 1, 1_000_000);
const duration = num("duration", 0, 86_400);
const share = {
  invalid: num("invalid", 0, 1),
  duplicate: num("duplicate", 0, 1),
  unauthorized: num("unauthorized", 0, 1),
  late: num("late", 0, 1),
};
if (!opts.key) {
  console.error("simulate: pass --key (an ingest key) or set PULSESTREAM_KEY");
  Deno.exit(2);
}

/** Signal shape per event type: base, amplitude, period (s), noise, spike size. */
const TYPES = [
  { type: "temperature", base: 21, amp: 4, period: 300, noise: 0.3, spike: 15 },
  { type: "humidity", base: 45, amp: 10, period: 600, noise: 1, spike: 30 },
  { type: "power", base: 1200, amp: 400, period: 120, noise: 40, spike: 2500 },
  { type: "latency", base: 80, amp: 30, period: 60, noise: 10, spike: 900 },
];
const SITES = ["berlin", "paris", "lisbon", "oslo"];

const phase = Array.from({ length: devices }, () => Math.random() * Math.PI * 2);
const recentIds: string[] = [];
let seq = 0;

function gaussian(): number {
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

function makeEvent(now: number): Record<string, unknown> {
  const d = Math.floor(Math.random() * devices);
  const t = TYPES[Math.floor(Math.random() * TYPES.length)];
  const r = Math.random();
  if (r < share.invalid) {
    return Math.random() < 0.5
      ? { deviceId: "", eventType: t.type, value: 1 }
      : { deviceId: `sim-${d}`, eventType: t.type, value: "NaN" };
  }
  if (r < share.invalid + share.duplicate && recentIds.length) {
    return {
      id: recentIds[Math.floor(Math.random() * recentIds.length)],
      deviceId: `sim-${d}`,
      eventType: t.type,
      value: 0,
    };
  }
  const late = Math.random() < share.late;
  const ts = late ? now - 60_000 - Math.random() * 600_000 : now;
  const value = t.base + t.amp * Math.sin((2 * Math.PI * ts) / (t.period * 1000) + phase[d]) +
    t.noise * gaussian() +
    (Math.random() < 0.003 ? t.spike : 0);
  const id = `sim-${now.toString(36)}-${(seq++).toString(36)}`;
  recentIds.push(id);
  if (recentIds.length > 1000) recentIds.shift();
  return {
    id,
    deviceId: `sim-${d}`,
    eventType: t.type,
    value: Math.round(value * 100) / 100,
    timestamp: Math.round(ts),
    metadata: { site: SITES[d % SITES.length] },
    ...(t.type === "latency"
      ? { data: { path: ["/", "/api", "/login"][d % 3], status: value > 500 ? 503 : 200 } }
      : {}),
  };
}

const statuses = new Map<string, number>();
const items = { accepted: 0, duplicate: 0, rejected: 0 };
const count = (k: string) => statuses.set(k, (statuses.get(k) ?? 0) + 1);

async function send(batch: unknown[], key: string): Promise<void> {
  try {
    const res = await fetch(`${opts.url}/v1/events`, {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json" },
      body: JSON.stringify(batch),
    });
    count(String(res.status));
    const body = await res.json().catch(() => null) as { data?: { totals?: typeof items } } | null;
    const totals = body?.data?.totals;
    if (totals) { for (const k of ["accepted", "duplicate", "rejected"] as const) items[k] += totals[k]; }
  } catch (error) {
    count(`error: ${(error as Error).message.slice(0, 40)}`);
  }
}

const TICK_MS = 100;
const started = Date.now();
let carry = 0;
const tick = setInterval(() => {
  carry += (rate * TICK_MS) / 1000;
  const n = Math.floor(carry);
  carry -= n;
  if (n === 0) return;
  const now = Date.now();
  const batch = Array.from({ length: n }, () => makeEvent(now));
  void send(batch, opts.key!);
  if (Math.random() < share.unauthorized * n) void send([makeEvent(now)], "psk_not-a-real-key-0000000000");
}, TICK_MS);

const report = () => {
  const s = [...statuses].sort().map(([k, v]) => `${k}: ${v}`).join("  ");
  const secs = Math.round((Date.now() - started) / 1000);
  console.log(
    `[${secs}s] responses ${
      s || "none yet"
    } | events accepted ${items.accepted} duplicate ${items.duplicate} rejected ${items.rejected}`,
  );
};
const printer = setInterval(report, 1000);
const stop = () => {
  clearInterval(tick);
  clearInterval(printer);
  setTimeout(() => {
    report();
    Deno.exit(0);
  }, 500);
};
Deno.addSignalListener("SIGINT", stop);
if (duration > 0) setTimeout(stop, duration * 1000);
console.log(`simulating ${devices} devices at ${rate} events/s against ${opts.url} (Ctrl-C stops)`);
