/**
 * Validation of incoming events. `createEventValidator(limits)` builds the zod
 * schema once; `validate(input, now)` checks one parsed JSON value and returns
 * either the normalised event or every bad field (never only the first).
 */
import { z } from "zod";
import type { JsonValue, MetadataValue, ValidEvent } from "./event.ts";
import type { EventLimits } from "./limits.ts";
import { parseIsoDateTime } from "./time-units.ts";

/** One bad field: a dotted path (`metadata.site`, `data.a.b`) and a message. */
export interface FieldError {
  field: string;
  message: string;
}

export type ValidationResult =
  | { ok: true; event: ValidEvent }
  | { ok: false; errors: FieldError[] };

/** C0 controls (NUL included), DEL and C1 controls. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
/** A UTF-16 surrogate without its pair (`String.prototype.isWellFormed` is ES2024, past our lib). */
const LONE_SURROGATE_CHAR = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/**
 * Largest |value|: far beyond any measurement, yet small enough that sums of values over any
 * realistic number of events stay finite (an overflow to ±Infinity, and Infinity − Infinity = NaN,
 * would make a rollup bucket unstorable).
 */
export const MAX_ABS_VALUE = 1e100;
const ID_PATTERN = /^[A-Za-z0-9._:-]+$/;
/**
 * A key that a plain object cannot hold as data: assigning it sets the prototype instead, so it
 * would vanish between the request and the store. Refused (400) wherever keys are client-chosen.
 */
const PROTO_KEY = "__proto__";

const TIMESTAMP_FORMAT =
  "timestamp must be epoch milliseconds (a non-negative integer) or an ISO-8601 date-time with a time zone (a real calendar day, hours 00-23)";
const LONE_SURROGATE = "must not contain lone UTF-16 surrogates (\\ud800-\\udfff without its pair)";

/**
 * Whether `s` can be stored and returned exactly: no control characters and no lone surrogate
 * (which UTF-8 cannot encode: it would be stored as U+FFFD, unlike what was acknowledged).
 */
function storable(s: string): boolean {
  return !CONTROL_CHARS.test(s) && !LONE_SURROGATE_CHAR.test(s);
}

const encoder = new TextEncoder();

function text(field: string, max: number) {
  return z
    .string({ error: `${field} must be a string` })
    .min(1, { error: `${field} must not be empty` })
    .max(max, { error: `${field} must be at most ${max} characters` })
    .refine((s) => !CONTROL_CHARS.test(s), {
      error: `${field} must not contain control characters`,
    })
    .refine((s) => !LONE_SURROGATE_CHAR.test(s), { error: `${field} ${LONE_SURROGATE}` });
}

/** Builds a validator for the given limits. */
export function createEventValidator(limits: EventLimits) {
  const valueError =
    `metadata values must be strings (at most ${limits.maxMetadataValueLength} characters, no control characters or lone surrogates), finite numbers or booleans`;
  const metadataValue = z.union(
    [
      z.string().max(limits.maxMetadataValueLength).refine(storable, { error: valueError }),
      z.number().refine(Number.isFinite),
      z.boolean(),
    ],
    { error: valueError },
  );
  const keyError =
    `metadata keys must be 1-${limits.maxMetadataKeyLength} characters without control characters or lone surrogates, and not "${PROTO_KEY}"`;

  const schema = z.strictObject(
    {
      id: z
        .string({ error: "id must be a string" })
        .min(1, { error: "id must not be empty" })
        .max(limits.maxIdLength, { error: `id must be at most ${limits.maxIdLength} characters` })
        .regex(ID_PATTERN, { error: "id may only contain A-Z a-z 0-9 . _ : -" })
        .optional(),
      deviceId: text("deviceId", limits.maxDeviceIdLength),
      eventType: text("eventType", limits.maxEventTypeLength),
      value: z
        .number({ error: "value must be a finite number" })
        .refine((v) => Math.abs(v) <= MAX_ABS_VALUE, {
          error: `value must be a finite number within ±${MAX_ABS_VALUE}`,
        })
        .nullable()
        .optional(),
      timestamp: z
        .union([
          z.number({ error: TIMESTAMP_FORMAT }).int({ error: TIMESTAMP_FORMAT }).min(0, {
            error: TIMESTAMP_FORMAT,
          }),
          z.string({ error: TIMESTAMP_FORMAT })
            .refine((s) => parseIsoDateTime(s) !== null, { error: TIMESTAMP_FORMAT }),
        ], { error: TIMESTAMP_FORMAT })
        .nullable()
        .optional(),
      metadata: z
        .record(
          z.string().max(limits.maxMetadataKeyLength).refine(
            (s) => s.length > 0 && storable(s) && s !== PROTO_KEY,
            { error: keyError },
          ),
          metadataValue,
          {
            error: (issue) => issue.code === "invalid_key" ? keyError : "metadata must be an object of tags",
          },
        )
        .refine((m) => Object.keys(m).length <= limits.maxMetadataKeys, {
          error: `metadata must have at most ${limits.maxMetadataKeys} keys`,
        })
        .nullable()
        .optional(),
      data: z
        .record(z.string(), z.unknown(), { error: "data must be a JSON object" })
        .nullable()
        .optional(),
    },
    { error: (issue) => issue.code === "unrecognized_keys" ? undefined : "event must be a JSON object" },
  );

  const fast = commonShape(limits);
  return {
    /**
     * Validates one event; `now` is the server clock in epoch ms. `fastPath` false checks with the
     * zod schema alone (tests compare the two).
     */
    validate(input: unknown, now: number, fastPath = true): ValidationResult {
      const common = fastPath ? fast(input, now) : null;
      if (common) return { ok: true, event: common };
      const parsed = schema.safeParse(input);
      const errors: FieldError[] = [];
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          if (issue.code === "unrecognized_keys") {
            for (const key of issue.keys) {
              errors.push({ field: key, message: `unknown field "${key}"` });
            }
            continue;
          }
          errors.push({ field: issue.path.map(String).join(".") || "event", message: issue.message });
        }
      }
      const raw = (input ?? {}) as Record<string, unknown>;
      const timestamp = checkTimestamp(raw.timestamp, now, limits, errors);
      checkProtoKey(raw, "metadata", errors);
      if (raw.data !== null && typeof raw.data === "object" && !Array.isArray(raw.data)) {
        checkData(raw.data as Record<string, unknown>, limits, errors);
      }
      if (errors.length > 0 || !parsed.success) return { ok: false, errors: dedupe(errors) };
      const v = parsed.data;
      const event: ValidEvent = { deviceId: v.deviceId, eventType: v.eventType };
      if (v.id !== undefined) event.id = v.id;
      if (v.value !== undefined && v.value !== null) event.value = v.value;
      if (timestamp !== undefined) event.timestamp = timestamp;
      if (v.metadata) event.metadata = v.metadata as Record<string, MetadataValue>;
      if (v.data) event.data = v.data as { [key: string]: JsonValue };
      return { ok: true, event };
    },
  };
}

export type EventValidator = ReturnType<typeof createEventValidator>;

const FIELDS = new Set(["id", "deviceId", "eventType", "value", "timestamp", "metadata", "data"]);

/** A plain object (what JSON.parse builds), not an array, null or a class instance. */
function plainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * The check of a valid event in the common shape without zod, which cost ~5 µs of CPU per event
 * (issue 17: zod's generic run/parse/checks per field): it returns the event the schema would, or
 * null for anything it does not accept outright — the zod schema then decides and names every
 * error. It accepts nothing the schema refuses (shared/event-schema.test.ts compares them).
 */
function commonShape(limits: EventLimits): (input: unknown, now: number) => ValidEvent | null {
  const text = (v: unknown, max: number): v is string =>
    typeof v === "string" && v.length > 0 && v.length <= max && storable(v);
  return (input, now) => {
    if (!plainObject(input)) return null;
    for (const key in input) if (!FIELDS.has(key) || !Object.hasOwn(input, key)) return null;
    const { id, deviceId, eventType, value, timestamp, metadata, data } = input;
    if (!text(deviceId, limits.maxDeviceIdLength) || !text(eventType, limits.maxEventTypeLength)) return null;
    const event: ValidEvent = { deviceId, eventType };
    if (id !== undefined) {
      if (
        typeof id !== "string" || id.length === 0 || id.length > limits.maxIdLength || !ID_PATTERN.test(id)
      ) {
        return null;
      }
      event.id = id;
    }
    if (value !== undefined && value !== null) {
      if (typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) > MAX_ABS_VALUE) {
        return null;
      }
      event.value = value;
    }
    if (timestamp !== undefined && timestamp !== null) {
      if (
        typeof timestamp === "number"
          ? !Number.isSafeInteger(timestamp) || timestamp < 0
          : typeof timestamp !== "string"
      ) {
        return null;
      }
      const errors: FieldError[] = [];
      const ms = checkTimestamp(timestamp, now, limits, errors);
      if (ms === undefined || errors.length > 0) return null;
      event.timestamp = ms;
    }
    if (metadata !== undefined && metadata !== null) {
      if (!plainObject(metadata)) return null;
      const tags: Record<string, MetadataValue> = {};
      let n = 0;
      for (const key in metadata) {
        if (++n > limits.maxMetadataKeys || !Object.hasOwn(metadata, key)) return null;
        if (!text(key, limits.maxMetadataKeyLength) || key === PROTO_KEY) return null;
        const v = metadata[key];
        if (typeof v === "string") {
          if (v.length > limits.maxMetadataValueLength || !storable(v)) return null;
        } else if (typeof v === "number") {
          if (!Number.isFinite(v)) return null;
        } else if (typeof v !== "boolean") return null;
        tags[key] = v;
      }
      if (Object.hasOwn(metadata, PROTO_KEY)) return null;
      event.metadata = tags;
    }
    if (data !== undefined && data !== null) {
      if (!plainObject(data) || Object.hasOwn(data, PROTO_KEY)) return null;
      const errors: FieldError[] = [];
      checkData(data, limits, errors);
      if (errors.length > 0) return null;
      event.data = { ...data } as { [key: string]: JsonValue };
    }
    return event;
  };
}

function checkTimestamp(
  raw: unknown,
  now: number,
  limits: EventLimits,
  errors: FieldError[],
): number | undefined {
  let ms: number;
  if (typeof raw === "number" && Number.isInteger(raw)) ms = raw;
  else if (typeof raw === "string") {
    const parsed = parseIsoDateTime(raw);
    if (parsed === null) return undefined;
    ms = parsed;
  } else return undefined;
  if (ms > now + limits.maxFutureSkewMs) {
    errors.push({
      field: "timestamp",
      message: `timestamp is more than ${limits.maxFutureSkewMs / 1000} s in the future`,
    });
  } else if (ms < now - limits.retentionMs) {
    errors.push({
      field: "timestamp",
      message: `timestamp is older than the retention window (${formatDuration(limits.retentionMs)})`,
    });
  }
  return ms;
}

function checkData(data: Record<string, unknown>, limits: EventLimits, errors: FieldError[]): void {
  const problem = walkJson(data, "data", 1, limits.maxDataDepth);
  if (problem) {
    errors.push(problem);
    return;
  }
  const bytes = encoder.encode(JSON.stringify(data)).length;
  if (bytes > limits.maxDataBytes) {
    errors.push({
      field: "data",
      message: `data must be at most ${limits.maxDataBytes} bytes as JSON (got ${bytes})`,
    });
  }
}

/** Depth, control characters and non-finite numbers anywhere inside `data`. */
function walkJson(value: unknown, path: string, depth: number, maxDepth: number): FieldError | null {
  if (typeof value === "string") {
    return CONTROL_CHARS.test(value)
      ? { field: path, message: "strings must not contain control characters" }
      : !LONE_SURROGATE_CHAR.test(value)
      ? null
      : { field: path, message: `strings ${LONE_SURROGATE}` };
  }
  if (typeof value === "number") {
    return Number.isFinite(value) ? null : { field: path, message: "numbers must be finite" };
  }
  if (value === null || typeof value !== "object") return null;
  if (depth > maxDepth) {
    return { field: "data", message: `data must be nested at most ${maxDepth} levels deep` };
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = walkJson(value[i], `${path}.${i}`, depth + 1, maxDepth);
      if (p) return p;
    }
    return null;
  }
  for (const [key, child] of Object.entries(value)) {
    if (CONTROL_CHARS.test(key)) return { field: path, message: "keys must not contain control characters" };
    if (LONE_SURROGATE_CHAR.test(key)) return { field: path, message: `keys ${LONE_SURROGATE}` };
    if (key === PROTO_KEY) {
      return { field: `${path}.${key}`, message: `"${PROTO_KEY}" is not allowed as a key` };
    }
    const p = walkJson(child, `${path}.${key}`, depth + 1, maxDepth);
    if (p) return p;
  }
  return null;
}

/** One error per field: the first problem found is the one to fix first. */
function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    if (seen.has(e.field)) return false;
    seen.add(e.field);
    return true;
  });
}

function formatDuration(ms: number): string {
  const days = ms / 86_400_000;
  if (Number.isInteger(days)) return `${days} d`;
  const hours = ms / 3_600_000;
  if (Number.isInteger(hours)) return `${hours} h`;
  return `${Math.round(ms / 1000)} s`;
}

/**
 * zod builds a record by assignment, which drops a `__proto__` key without a word; JSON.parse
 * keeps it as an own property, so it is looked for in the raw input.
 */
function checkProtoKey(raw: Record<string, unknown>, field: string, errors: FieldError[]): void {
  const value = raw[field];
  if (value !== null && typeof value === "object" && Object.hasOwn(value, PROTO_KEY)) {
    errors.push({ field: `${field}.${PROTO_KEY}`, message: `"${PROTO_KEY}" is not allowed as a key` });
  }
}
