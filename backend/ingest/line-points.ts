/**
 * Line protocol points → PulseStream events:
 * - the measurement is the event type; the first tag named in `deviceTags`
 *   that the point has is the device id (a point without one is refused);
 *   every other tag is metadata;
 * - the numeric field `value` (float, integer or unsigned) is the event's
 *   value; every other numeric field `f` becomes an event of its own, of type
 *   `<measurement>.f`; string and boolean fields go into `data` of each event
 *   of the point, and a point without numeric fields is one event with a null
 *   value;
 * - the timestamp, in the request's precision, is truncated to milliseconds;
 *   absent, the event takes the receive time.
 *
 * A point is stored whole or not at all: when one of its events breaks an
 * event limit, the point is refused with that reason. The limits are the JSON
 * ingest's (`createEventValidator`): an event that passes the quick check here
 * passes them by construction, and any other goes through the validator itself
 * for its exact verdict and message.
 *
 * A point with a timestamp gets a content id (`lp-` + 128-bit hash of the
 * precision, the field and the line as sent), so that a client resending a
 * batch (as the InfluxDB clients do after a lost answer) stores nothing twice:
 * the resent points come back `duplicate`. Points without a timestamp get
 * generated ids, like JSON events without `id`.
 */
import type { EventValidator, FieldError } from "../../shared/event-schema.ts";
import { MAX_ABS_VALUE } from "../../shared/event-schema.ts";
import type { JsonValue, MetadataValue, ValidEvent } from "../../shared/event.ts";
import type { EventLimits } from "../../shared/limits.ts";
import type { LineError, LinePoint } from "./line-protocol.ts";

/** Timestamp units of the `precision` parameter (v1 also takes `n`, `u`, `m` and `h`). */
export type Precision = "ns" | "us" | "ms" | "s" | "m" | "h";

const PRECISIONS: Record<"v1" | "v2", Record<string, Precision>> = {
  // InfluxDB 2 takes ns, us, ms and s; InfluxDB 1 also n, u, m (minutes) and h.
  v2: { ns: "ns", us: "us", ms: "ms", s: "s" },
  v1: { ns: "ns", n: "ns", us: "us", u: "us", ms: "ms", s: "s", m: "m", h: "h" },
};

/** The precision named by a query parameter (absent: ns), or null when the API does not take it. */
export function parsePrecision(raw: string | undefined, api: "v1" | "v2"): Precision | null {
  if (raw === undefined || raw === "") return "ns";
  return Object.hasOwn(PRECISIONS[api], raw) ? PRECISIONS[api][raw] : null;
}

/** How points become events. */
export interface PointMapping {
  /** Tag names that carry the device id, in order of preference. */
  deviceTags: readonly string[];
  limits: EventLimits;
  /** The JSON ingest's validator: the verdict on any event the quick check does not pass. */
  validator: EventValidator;
}

/** The events of the good points, and a reason for each refused point. */
export interface MappedPoints {
  events: ValidEvent[];
  errors: LineError[];
}

// No control characters (C0, DEL, C1) and no surrogates: such strings are storable as they are.
// deno-lint-ignore no-control-regex -- the control ranges are what it excludes
const PLAIN = /^[^\u0000-\u001f\u007f-\u009f\ud800-\udfff]*$/;
const CONTENT_ID_LENGTH = 35;

/** Maps `points` (in order) to events; `now` is the receive time in epoch ms. */
export function pointsToEvents(
  points: readonly LinePoint[],
  options: { precision: Precision; now: number; mapping: PointMapping },
): MappedPoints {
  const { precision, now, mapping } = options;
  const events: ValidEvent[] = [];
  const errors: LineError[] = [];
  const withIds = mapping.limits.maxIdLength >= CONTENT_ID_LENGTH;
  for (const point of points) {
    const deviceTag = mapping.deviceTags.find((t) => point.tags.has(t));
    if (deviceTag === undefined) {
      errors.push({
        line: point.line,
        field: "deviceId",
        message: `deviceId: no device tag (${mapping.deviceTags.join(" or ")})`,
      });
      continue;
    }
    const timestamp = point.timestamp === null ? undefined : toMillis(point.timestamp, precision);
    if (timestamp === null) {
      errors.push({
        line: point.line,
        field: "timestamp",
        message: "timestamp: timestamps before 1970 are not supported",
      });
      continue;
    }
    let metadata: Record<string, MetadataValue> | undefined;
    for (const [key, value] of point.tags) {
      if (key !== deviceTag) (metadata ??= {})[key] = value;
    }
    let data: { [key: string]: JsonValue } | undefined;
    const numeric: [string, number][] = [];
    for (const [key, field] of point.fields) {
      if (field.kind === "string" || field.kind === "boolean") (data ??= {})[key] = field.value;
      else numeric.push([key, field.value]);
    }
    const deviceId = point.tags.get(deviceTag)!;
    const checked: ValidEvent[] = [];
    let refusal = null as FieldError | null;
    const add = (fieldKey: string, eventType: string, value: number | undefined) => {
      const event: ValidEvent = { deviceId, eventType };
      if (value !== undefined) event.value = value;
      if (timestamp !== undefined) event.timestamp = timestamp;
      if (metadata !== undefined) event.metadata = metadata;
      if (data !== undefined) event.data = data;
      const valid = quickCheck(event, mapping.limits, now) ? event : verdict(event, mapping, now);
      if ("field" in valid && "message" in valid) {
        refusal = valid;
        return;
      }
      if (withIds && point.timestamp !== null) {
        valid.id = `lp-${hash128(`${precision}\n${fieldKey}\n${point.text}`)}`;
      }
      checked.push(valid);
    };
    if (numeric.length === 0) add("", point.measurement, undefined);
    for (let i = 0; i < numeric.length && refusal === null; i++) {
      const [key, value] = numeric[i];
      add(key, key === "value" ? point.measurement : `${point.measurement}.${key}`, value);
    }
    if (refusal !== null) {
      errors.push({
        line: point.line,
        field: refusal.field,
        message: `${refusal.field}: ${refusal.message}`,
      });
    } else for (const e of checked) events.push(e);
  }
  return { events, errors };
}

/** Epoch ms of a timestamp in `precision`, truncated; null for one before 1970. */
function toMillis(digits: string, precision: Precision): number | null {
  if (digits.charCodeAt(0) === 45 /* - */) return null;
  switch (precision) {
    case "ns":
      return digits.length > 6 ? Number(digits.slice(0, -6)) : 0;
    case "us":
      return digits.length > 3 ? Number(digits.slice(0, -3)) : 0;
    case "ms":
      return Number(digits);
    case "s":
      return Number(digits) * 1000;
    case "m":
      return Number(digits) * 60_000;
    case "h":
      return Number(digits) * 3_600_000;
  }
}

/** Whether `event` certainly passes the event limits (a subset of what the validator accepts). */
function quickCheck(event: ValidEvent, limits: EventLimits, now: number): boolean {
  if (event.data !== undefined) return false;
  const { deviceId, eventType, value, timestamp, metadata } = event;
  if (deviceId.length > limits.maxDeviceIdLength || !PLAIN.test(deviceId)) return false;
  if (eventType.length > limits.maxEventTypeLength || !PLAIN.test(eventType)) return false;
  if (value !== undefined && !(Math.abs(value) <= MAX_ABS_VALUE)) return false;
  if (
    timestamp !== undefined &&
    (timestamp > now + limits.maxFutureSkewMs || timestamp < now - limits.retentionMs)
  ) {
    return false;
  }
  if (metadata !== undefined) {
    let keys = 0;
    for (const key in metadata) {
      const v = metadata[key] as string;
      if (
        ++keys > limits.maxMetadataKeys || key.length > limits.maxMetadataKeyLength || key === "__proto__"
      ) {
        return false;
      }
      if (v.length > limits.maxMetadataValueLength || !PLAIN.test(key) || !PLAIN.test(v)) return false;
    }
  }
  return true;
}

/** The validator's verdict: the normalised event, or its first problem. */
function verdict(event: ValidEvent, mapping: PointMapping, now: number): ValidEvent | FieldError {
  const wire: Record<string, unknown> = { deviceId: event.deviceId, eventType: event.eventType };
  if (event.value !== undefined) {
    wire.value = Number.isFinite(event.value) ? event.value : String(event.value);
  }
  if (event.timestamp !== undefined) wire.timestamp = event.timestamp;
  if (event.metadata !== undefined) wire.metadata = event.metadata;
  if (event.data !== undefined) wire.data = event.data;
  const checked = mapping.validator.validate(wire, now);
  if (checked.ok) return checked.event;
  return checked.errors[0];
}

/**
 * MurmurHash3 (x86, 128-bit) over the UTF-16 code units of `s`, two units to a 32-bit word, as
 * 32 hex digits. Not cryptographic: a collision only makes a client's own point a duplicate of
 * another point with the same content id.
 */
export function hash128(s: string): string {
  let h1 = 0x9747b28c, h2 = 0x9747b28c, h3 = 0x9747b28c, h4 = 0x9747b28c;
  const c1 = 0x239b961b, c2 = 0xab0e9789, c3 = 0x38b34ae5, c4 = 0xa1e38b93;
  const n = s.length;
  const word = (i: number) => i < n ? s.charCodeAt(i) | (i + 1 < n ? s.charCodeAt(i + 1) << 16 : 0) : 0;
  const blocks = n >> 3;
  for (let b = 0; b < blocks; b++) {
    const i = b << 3;
    let k1 = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    let k2 = s.charCodeAt(i + 2) | (s.charCodeAt(i + 3) << 16);
    let k3 = s.charCodeAt(i + 4) | (s.charCodeAt(i + 5) << 16);
    let k4 = s.charCodeAt(i + 6) | (s.charCodeAt(i + 7) << 16);
    k1 = Math.imul(rotl(Math.imul(k1, c1), 15), c2);
    h1 ^= k1;
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, c2), 16), c3);
    h2 ^= k2;
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, c3), 17), c4);
    h3 ^= k3;
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, c4), 18), c1);
    h4 ^= k4;
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  const tail = blocks << 3;
  if (tail < n) {
    const k1 = word(tail), k2 = word(tail + 2), k3 = word(tail + 4), k4 = word(tail + 6);
    if (k4) h4 ^= Math.imul(rotl(Math.imul(k4, c4), 18), c1);
    if (k3) h3 ^= Math.imul(rotl(Math.imul(k3, c3), 17), c4);
    if (k2) h2 ^= Math.imul(rotl(Math.imul(k2, c2), 16), c3);
    h1 ^= Math.imul(rotl(Math.imul(k1, c1), 15), c2);
  }
  const len = n * 2;
  h1 ^= len, h2 ^= len, h3 ^= len, h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0, h3 = (h3 + h1) | 0, h4 = (h4 + h1) | 0;
  h1 = fmix(h1), h2 = fmix(h2), h3 = fmix(h3), h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0, h3 = (h3 + h1) | 0, h4 = (h4 + h1) | 0;
  return hex(h1) + hex(h2) + hex(h3) + hex(h4);
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

const HEX_BYTES = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function hex(h: number): string {
  return HEX_BYTES[(h >>> 24) & 255] + HEX_BYTES[(h >>> 16) & 255] + HEX_BYTES[(h >>> 8) & 255] +
    HEX_BYTES[h & 255];
}
