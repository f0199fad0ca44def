/**
 * Demo traffic: `npm run simulate -- [options]` (Deno). N devices send realistic signals over several
 * event types (bench/lib/traffic.ts), in batches over HTTP, with shares of invalid, duplicate (exact
 * resends of accepted events), unauthorized and late events. At most --concurrency requests are in
 * flight: events due while the window is full wait (up to a second of traffic) and go out as slots
 * free; beyond that, and at the end, they are not sent and are counted as skipped. Every second
 * it prints what it sent, the HTTP responses by status and the server's outcomes; it stops after
 * --duration seconds (default 60; --forever runs until Ctrl-C), waits for the requests in flight and
 * prints a final `summary: {json}` line. Exits 1 if no request got an HTTP answer.
 *
 *   --url http://127.0.0.1:8000  --key $KEY (or PULSESTREAM_KEY)  --devices 20  --rate 200 (events/s)
 *   --duration 60  --forever  --concurrency 4  --batch 500 (most events per request)
 *   --invalid 0.02  --duplicate 0.02  --unauthorized 0.01  --late 0.01
 */
import { type EventKind, Traffic } from "./lib/traffic.ts";
import { parseCommandLine, usageError } from "../backend/adapters/cli/usage.ts";

const USAGE = `usage: simulate [--url http://127.0.0.1:8000] [--key KEY] [--devices 20] [--rate 200]
         [--duration 60 | --forever] [--concurrency 4] [--batch 500]
         [--invalid 0.02] [--duplicate 0.02] [--unauthorized 0.01] [--late 0.01]
       simulate --help

Sends demo traffic to a running server: N devices over several event types, in batches, with
shares of invalid, duplicate, unauthorized and late events; prints a line a second and a final
summary. The key (ingest scope) comes from --key or PULSESTREAM_KEY.
Exit status: 0 done, 1 no request got an answer, 2 a command-line mistake.`;

const { values: opts, positionals } = parseCommandLine(USAGE, {
  url: { type: "string", default: Deno.env.get("PS") ?? "http://127.0.0.1:8000" },
  key: { type: "string", default: Deno.env.get("PULSESTREAM_KEY") ?? Deno.env.get("KEY") ?? "" },
  devices: { type: "string", default: "20" },
  rate: { type: "string", default: "200" },
  duration: { type: "string", default: "60" },
  forever: { type: "boolean", default: false },
  concurrency: { type: "string", default: "4" },
  batch: { type: "string", default: "500" },
  invalid: { type: "string", default: "0.02" },
  duplicate: { type: "string", default: "0.02" },
  unauthorized: { type: "string", default: "0.01" },
  late: { type: "string", default: "0.01" },
});
if (positionals.length) usageError(`unexpected argument: ${positionals[0]}`, USAGE);

type NumberOption =
  | "devices"
  | "rate"
  | "duration"
  | "concurrency"
  | "batch"
  | "invalid"
  | "duplicate"
  | "unauthorized"
  | "late";
const num = (name: NumberOption, min: number, max: number): number => {
  const v = Number(opts[name]);
  if (!Number.isFinite(v) || v < min || v > max) {
    console.error(`--${name} must be a number from ${min} to ${max}`);
    Deno.exit(2);
  }
  return v;
};
if (opts.duration === "0") {
  console.error("--duration 0 no longer runs forever: pass --forever");
  Deno.exit(2);
}
const devices = Math.floor(num("devices", 1, 100_000));
const rate = num("rate", 1, 1_000_000);
const duration = num("duration", 1, 86_400);
const concurrency = Math.floor(num("concurrency", 1, 256));
const maxBatch = Math.floor(num("batch", 1, 10_000));
const shares = { invalid: num("invalid", 0, 1), duplicate: num("duplicate", 0, 1), late: num("late", 0, 1) };
const unauthorizedShare = num("unauthorized", 0, 1);
if (shares.invalid + shares.duplicate > 1) {
  console.error("--invalid and --duplicate must add up to at most 1");
  Deno.exit(2);
}
if (!opts.key) {
  console.error("simulate: pass --key (an ingest key) or set PULSESTREAM_KEY");
  Deno.exit(2);
}

/** Longest wait for one request, and for the requests in flight at the end, ms. */
const REQUEST_TIMEOUT_MS = 10_000;
const TICK_MS = 100;
const UNKNOWN_KEY = "psk_not-a-real-key-0000000000";

const traffic = new Traffic({ devices, shares });
const sent: Record<EventKind | "unauthorized", number> = {
  valid: 0,
  late: 0,
  invalid: 0,
  duplicate: 0,
  unauthorized: 0,
};
const outcomes = { accepted: 0, duplicate: 0, rejected: 0 };
const statuses = new Map<string, number>();
let requests = 0;
let inFlight = 0;
let maxInFlight = 0;
let skipped = 0;
let answered = 0;
let idle: (() => void) | null = null;
let stopping = false;

interface IngestAnswer {
  data?: { totals?: typeof outcomes; results?: { status: string }[] };
}

async function send(batch: Record<string, unknown>[], kinds: EventKind[] | null, key: string): Promise<void> {
  requests++;
  maxInFlight = Math.max(maxInFlight, ++inFlight);
  let status: string;
  try {
    const res = await fetch(`${opts.url}/v1/events`, {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json" },
      body: JSON.stringify(batch),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    answered++;
    status = String(res.status);
    const body = await res.json().catch(() => null) as IngestAnswer | null;
    const totals = body?.data?.totals;
    if (totals) { for (const k of ["accepted", "duplicate", "rejected"] as const) outcomes[k] += totals[k]; }
    // Only events the server stored may come back as duplicates (an exact resend is then a duplicate).
    body?.data?.results?.forEach((r, i) => {
      if (r.status === "accepted" && kinds && (kinds[i] === "valid" || kinds[i] === "late")) {
        traffic.accepted(batch[i]);
      }
    });
  } catch (error) {
    status = `error: ${(error as Error).message.slice(0, 40)}`;
  }
  statuses.set(status, (statuses.get(status) ?? 0) + 1);
  if (--inFlight === 0) idle?.();
}

/** Most events waiting for a free slot: a second of traffic, or a full window's worth. */
const maxBacklog = Math.max(rate, concurrency * maxBatch);
/** Events due but not sent yet (made when sent, so their timestamps are the sending time). */
let backlog = 0;

/** Fills the free slots of the window with batches of at most `maxBatch` events from the backlog. */
function pump(): void {
  while (!stopping && inFlight < concurrency && backlog > 0) {
    const size = Math.min(backlog, maxBatch);
    backlog -= size;
    const now = Date.now();
    const batch: Record<string, unknown>[] = [];
    const kinds: EventKind[] = [];
    for (let i = 0; i < size; i++) {
      const { event, kind } = traffic.next(now);
      batch.push(event);
      kinds.push(kind);
      sent[kind]++;
    }
    void send(batch, kinds, opts.key!).then(pump);
  }
}

const started = Date.now();
let carry = 0;
const tick = setInterval(() => {
  carry += (rate * TICK_MS) / 1000;
  const n = Math.floor(carry);
  carry -= n;
  backlog += n;
  // The server (or the network) is behind: events beyond the backlog are not sent at all.
  if (backlog > maxBacklog) {
    skipped += backlog - maxBacklog;
    backlog = maxBacklog;
  }
  // About `unauthorizedShare` of the events go out as single-event requests with an unknown key (401).
  for (let u = Math.floor(unauthorizedShare * n + Math.random()); u > 0 && inFlight < concurrency; u--) {
    sent.unauthorized++;
    void send([traffic.next(Date.now()).event], null, UNKNOWN_KEY).then(pump);
  }
  pump();
}, TICK_MS);

function line(): string {
  const secs = Math.round((Date.now() - started) / 1000);
  const total = sent.valid + sent.late + sent.invalid + sent.duplicate;
  const s = [...statuses].sort().map(([k, v]) => `${k}: ${v}`).join(" ");
  return `[${secs}s] sent ${total} events (valid ${sent.valid}, late ${sent.late}, invalid ${sent.invalid}, ` +
    `duplicate ${sent.duplicate}) + ${sent.unauthorized} unauthorized | responses ${s || "none yet"} | ` +
    `server: accepted ${outcomes.accepted} duplicate ${outcomes.duplicate} rejected ${outcomes.rejected} | ` +
    `in flight ${inFlight}/${concurrency}, skipped ${skipped}`;
}

const printer = setInterval(() => console.log(line()), 1000);
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(tick);
  clearInterval(printer);
  skipped += backlog; // due, never sent
  backlog = 0;
  if (inFlight > 0) {
    await Promise.race([
      new Promise<void>((resolve) => (idle = resolve)),
      new Promise((resolve) => setTimeout(resolve, REQUEST_TIMEOUT_MS)),
    ]);
  }
  console.log(line());
  const summary = { sent, requests, statuses: Object.fromEntries(statuses), outcomes, skipped, maxInFlight };
  console.log(`summary: ${JSON.stringify(summary)}`);
  Deno.exit(answered > 0 ? 0 : 1);
}
Deno.addSignalListener("SIGINT", () => void stop());
if (!opts.forever) setTimeout(() => void stop(), duration * 1000);
console.log(
  `simulating ${devices} devices at ${rate} events/s against ${opts.url}, at most ${concurrency} requests ` +
    `in flight, ${opts.forever ? "until Ctrl-C" : `for ${duration} s (--forever: until Ctrl-C)`}`,
);
