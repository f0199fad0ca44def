/**
 * The events of the real-shape benchmark (`bench/real-shape.ts`), built once before any timing so
 * that every round and every system receives exactly the same events: a fleet's history spread
 * evenly over the last `spanMs` (24 h or 7 d), or stamped by the receiver (`spanMs` 0); ~250-byte
 * events with per-device metadata tags; `batchSize`-event batches shuffled inside (out of order);
 * a share of exact resends of events sent in earlier batches and of duplicates inside a batch (same
 * id and payload). Pure: no I/O, randomness from a seeded generator.
 */

export type IdMode = "own" | "server";

export interface RealShapeOptions {
  events: number;
  devices: number;
  /** Event time spread over [now - spanMs, now); 0: no timestamp, the receiver stamps "now". */
  spanMs: number;
  batchSize: number;
  /** Lines per InfluxDB write. */
  linesPerWrite: number;
  ids: IdMode;
  /** Shares (0–1) of events that resend an event of an earlier batch / repeat one of the same batch. */
  resend: number;
  duplicate: number;
  now: number;
  seed?: number;
}

export interface RealShapeData {
  /** JSON array bodies for POST /v1/events. */
  batches: string[];
  /** Line protocol bodies for InfluxDB's /write (ms precision). */
  writes: string[];
  /** Events sent in total (resends and duplicates included). */
  sent: number;
  /** Distinct events (distinct ids) among them. */
  distinct: number;
  /** Events PulseStream must acknowledge as new: `distinct` with own ids, all of them with server ids. */
  expectAccepted: number;
  /** Event time range covered, epoch ms (both `now` when stamped by the receiver). */
  from: number;
  to: number;
  eventTypes: readonly string[];
  meanJsonBytes: number;
  meanLineBytes: number;
}

interface SourceEvent {
  id: string;
  deviceId: string;
  eventType: string;
  value: number;
  timestamp?: number;
  metadata: Record<string, string | number>;
  /** The line's time: `timestamp`, or (stamped now) one ms apart up to `now`, as InfluxDB would
   * otherwise stamp a whole write with one time and keep one point per series of it. */
  lineTime: number;
}

const TYPES = [
  { type: "temperature", unit: "celsius", base: 21, amp: 4 },
  { type: "humidity", unit: "percent", base: 45, amp: 10 },
  { type: "pressure", unit: "hpa", base: 1013, amp: 8 },
] as const;
const SITES = ["berlin", "paris", "lisbon", "oslo", "madrid", "vienna", "warsaw", "dublin"];
const MODELS = ["th-sensor-v2", "th-sensor-v3", "baro-x1", "env-pro-4"];

/** Mulberry32: a small seeded generator, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uuid4(random: () => number): string {
  const hex = (n: number) => Math.floor(random() * 16 ** n).toString(16).padStart(n, "0");
  const variant = (8 + Math.floor(random() * 4)).toString(16);
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${variant}${hex(3)}-${hex(6)}${hex(6)}`;
}

/** Tags of one device: the same for every event of that device (so series = devices × types). */
function deviceTags(d: number, unit: string): Record<string, string | number> {
  return {
    site: SITES[d % SITES.length],
    building: `b-${(d >> 3) % 40}`,
    floor: (d >> 6) % 12,
    model: MODELS[d % MODELS.length],
    firmware: `2.${d % 7}.${d % 23}`,
    unit,
  };
}

/** One InfluxDB line: measurement = eventType, tags deviceId + metadata, fields value and id. */
function line(e: SourceEvent): string {
  let tags = `deviceId=${e.deviceId}`;
  for (const [k, v] of Object.entries(e.metadata)) tags += `,${k}=${v}`;
  return `${e.eventType},${tags} value=${e.value},id="${e.id}" ${e.lineTime}`;
}

/** Builds the benchmark's events, batches and line-protocol writes. */
export function buildRealShape(options: RealShapeOptions): RealShapeData {
  const random = seededRandom(options.seed ?? 17);
  const { events, devices, spanMs, batchSize, now } = options;
  const width = String(devices - 1).length;
  const distinctTarget = Math.max(1, Math.round(events * (1 - options.resend - options.duplicate)));
  const start = now - spanMs;
  const sentBefore: SourceEvent[] = [];
  const batches: string[] = [];
  const lines: string[] = [];
  let distinct = 0;
  let jsonBytes = 0;
  let lineBytes = 0;
  let sent = 0;
  while (sent < events) {
    const n = Math.min(batchSize, events - sent);
    const batch: SourceEvent[] = [];
    for (let i = 0; i < n; i++) {
      const r = random();
      if (r < options.resend && sentBefore.length > 0) {
        batch.push(sentBefore[Math.floor(random() * sentBefore.length)]);
      } else if (r < options.resend + options.duplicate && batch.length > 0) {
        batch.push(batch[Math.floor(random() * batch.length)]);
      } else {
        const d = Math.floor(random() * devices);
        const t = TYPES[Math.floor(random() * TYPES.length)];
        // Evenly spread in event time, in sending order; the shuffle below breaks the order.
        const ts = spanMs > 0
          ? Math.floor(
            start + ((Math.min(distinct, distinctTarget - 1) + random()) * spanMs) / distinctTarget,
          )
          : undefined;
        const phase = ((ts ?? now) / 3_600_000 + d / devices) * 2 * Math.PI;
        batch.push({
          id: uuid4(random),
          deviceId: `dev-${String(d).padStart(width, "0")}`,
          eventType: t.type,
          value: Math.round((t.base + t.amp * Math.sin(phase) + random() - 0.5) * 100) / 100,
          ...(ts === undefined ? {} : { timestamp: ts }),
          metadata: deviceTags(d, t.unit),
          lineTime: ts ?? now - distinctTarget + distinct,
        });
        distinct++;
      }
    }
    for (let i = batch.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [batch[i], batch[j]] = [batch[j], batch[i]];
    }
    const body = JSON.stringify(
      batch.map(({ id, lineTime: _time, ...rest }) => options.ids === "own" ? { id, ...rest } : rest),
    );
    jsonBytes += body.length - 2 - (n - 1);
    batches.push(body);
    for (const e of batch) {
      const l = line(e);
      lineBytes += l.length + 1;
      lines.push(l);
    }
    for (const e of batch) {
      if (sentBefore.length < 10_000) sentBefore.push(e);
      else sentBefore[Math.floor(random() * sentBefore.length)] = e;
    }
    sent += n;
  }
  const writes: string[] = [];
  for (let i = 0; i < lines.length; i += options.linesPerWrite) {
    writes.push(lines.slice(i, i + options.linesPerWrite).join("\n"));
  }
  return {
    batches,
    writes,
    sent,
    distinct,
    expectAccepted: options.ids === "own" ? distinct : sent,
    from: spanMs > 0 ? start : now,
    to: now,
    eventTypes: TYPES.map((t) => t.type),
    meanJsonBytes: jsonBytes / sent,
    meanLineBytes: lineBytes / sent,
  };
}
