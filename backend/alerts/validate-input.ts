/**
 * Validation of rule, receiver and silence bodies: every bad field is reported
 * (`{field, message}`), nothing is stored unless all are good. References to
 * receivers are checked by the service, which knows which exist.
 */
import type { FieldError } from "../../shared/event-schema.ts";
import { parseAlertDuration } from "./duration.ts";
import { FIELD_LIMITS } from "./limits.ts";
import {
  type AlertRule,
  type Comparison,
  COMPARISONS,
  type Matcher,
  type Receiver,
  RULE_AGGREGATES,
  type RuleKind,
  SEVERITIES,
  type Severity,
  type Silence,
  SYSTEM_METRICS,
  type SystemMetric,
} from "./model.ts";
import { PatternError } from "./label-pattern.ts";
import { compileMatcher } from "./labels.ts";
import type { Network } from "./webhook-address.ts";
import { type HostAllowList, receiverUrlProblem } from "./webhook-hosts.ts";
import type { AggregateName } from "../stream/aggregate.ts";

/** The fields of a rule a client sends (ids and times are the server's). */
export type RuleInput = Omit<AlertRule, "id" | "createdAt" | "updatedAt">;
export type ReceiverInput = Omit<Receiver, "id" | "createdAt" | "updatedAt">;
export type SilenceInput = Omit<Silence, "id" | "createdBy">;

export interface InputBounds {
  maxLabels: number;
  maxEventTypeLength: number;
  maxDeviceIdLength: number;
  /** Finest stream resolution, ms: windows are whole multiples of it. */
  finestResolutionMs: number;
}

// deno-lint-ignore no-control-regex -- refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED_LABELS = new Set(["alertname", "severity", "deviceId"]);
const SERVER_FIELDS = new Set(["id", "createdAt", "updatedAt", "status"]);
const RULE_FIELDS = new Set([
  "name",
  "kind",
  "eventType",
  "filter",
  "aggregate",
  "window",
  "groupBy",
  "metric",
  "op",
  "threshold",
  "for",
  "keepFiringFor",
  "severity",
  "labels",
  "annotations",
  "receiver",
  "escalation",
  "enabled",
]);

class Fields {
  readonly errors: FieldError[] = [];
  constructor(readonly body: Record<string, unknown>) {}
  add(field: string, message: string): void {
    this.errors.push({ field, message });
  }
  text(field: string, max: number, optional = false): string | undefined {
    const v = this.body[field];
    if (v === undefined || v === null) {
      if (!optional) this.add(field, `${field} is required`);
      return undefined;
    }
    if (typeof v !== "string" || v.trim() === "") {
      return void this.add(field, `${field} must be a non-empty string`);
    }
    if (v.length > max) return void this.add(field, `${field} must be at most ${max} characters`);
    if (CONTROL.test(v)) return void this.add(field, `${field} must not contain control characters`);
    return v;
  }
  duration(field: string, fallback: number | undefined, min: number, max: number): number {
    const v = this.body[field];
    if (v === undefined && fallback !== undefined) return fallback;
    const ms = parseAlertDuration(v);
    if (ms === null || ms < min || ms > max) {
      this.add(
        field,
        `${field} must be a duration like "30s", "5m", "1h" (or integer ms) from ${min} ms to ${max} ms`,
      );
      return 0;
    }
    return ms;
  }
  oneOf<T extends string>(field: string, allowed: readonly T[], fallback?: T): T {
    const v = this.body[field] ?? fallback;
    if (typeof v === "string" && (allowed as readonly string[]).includes(v)) return v as T;
    this.add(field, `${field} must be one of ${allowed.join(", ")}`);
    return allowed[0];
  }
  unknown(allowed: Set<string>, ignored = new Set<string>()): void {
    const extra = Object.keys(this.body).filter((k) => !allowed.has(k) && !ignored.has(k));
    if (extra.length) this.add(extra.join(","), `unknown field(s): ${extra.join(", ")}`);
  }
}

function asObject(body: unknown): Record<string, unknown> | null {
  return typeof body === "object" && body !== null && !Array.isArray(body)
    ? body as Record<string, unknown>
    : null;
}

/** A string map (labels, annotations): names are label names, values bounded. */
function stringMap(f: Fields, field: string, maxEntries: number, maxValue: number): Record<string, string> {
  const raw = f.body[field];
  if (raw === undefined || raw === null) return {};
  const map = asObject(raw);
  if (!map) return f.add(field, `${field} must be an object of strings`), {};
  const entries = Object.entries(map);
  if (entries.length > maxEntries) return f.add(field, `${field} may hold at most ${maxEntries} entries`), {};
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (!LABEL_NAME.test(k) || k.length > FIELD_LIMITS.labelNameLength) {
      f.add(
        `${field}.${k}`,
        `names must match [A-Za-z_][A-Za-z0-9_]* (at most ${FIELD_LIMITS.labelNameLength})`,
      );
    } else if (typeof v !== "string" || v.length > maxValue) {
      f.add(`${field}.${k}`, `must be a string of at most ${maxValue} characters`);
    } else out[k] = v;
  }
  return out;
}

/** Validates a rule body; returns the rule fields or the errors. */
export function validateRule(body: unknown, bounds: InputBounds): RuleInput | FieldError[] {
  const obj = asObject(body);
  if (!obj) return [{ field: "body", message: "body must be a JSON object" }];
  const f = new Fields(obj);
  f.unknown(RULE_FIELDS, SERVER_FIELDS);
  const name = f.text("name", FIELD_LIMITS.nameLength);
  const kind = f.oneOf<RuleKind>("kind", ["threshold", "nodata", "system"], "threshold");
  const data = kind !== "system";
  const eventType = data ? f.text("eventType", bounds.maxEventTypeLength) ?? null : null;
  if (!data) {
    for (const k of ["eventType", "filter", "aggregate"]) {
      if (obj[k] !== undefined && obj[k] !== null) f.add(k, `${k} is not used by system rules`);
    }
  }
  let filter: RuleInput["filter"] = null;
  if (data && obj.filter !== undefined && obj.filter !== null) filter = ruleFilter(f, bounds);
  const aggregate: AggregateName = kind === "threshold"
    ? f.oneOf("aggregate", RULE_AGGREGATES)
    : kind === "nodata" && obj.aggregate !== undefined && obj.aggregate !== "count"
    ? (f.add("aggregate", "nodata rules count events: aggregate must be count or absent"), "count")
    : kind === "system"
    ? "avg"
    : "count";
  const windowMs = f.duration("window", undefined, bounds.finestResolutionMs, FIELD_LIMITS.maxDurationMs);
  if (windowMs > 0 && windowMs % bounds.finestResolutionMs !== 0) {
    f.add(
      "window",
      `window must be a whole multiple of ${bounds.finestResolutionMs} ms (the finest resolution)`,
    );
  }
  const groupBy = f.oneOf<"device" | "none">("groupBy", ["device", "none"], "none");
  if (kind === "system" && groupBy === "device") f.add("groupBy", "system rules cannot group by device");
  let metric: SystemMetric | null = null;
  if (kind === "system") metric = f.oneOf("metric", SYSTEM_METRICS);
  else if (obj.metric !== undefined && obj.metric !== null) {
    f.add("metric", "metric is only used by system rules");
  }
  let op: Comparison = "<";
  let threshold = 1;
  if (kind === "nodata") {
    if (obj.op !== undefined && obj.op !== "<") f.add("op", "nodata rules fire when count < 1: omit op");
    if (obj.threshold !== undefined && obj.threshold !== 1) {
      f.add("threshold", "nodata rules fire when count < 1: omit threshold");
    }
  } else {
    op = f.oneOf("op", COMPARISONS);
    if (typeof obj.threshold !== "number" || !Number.isFinite(obj.threshold)) {
      f.add("threshold", "threshold must be a finite number");
    } else threshold = obj.threshold;
  }
  const forMs = f.duration("for", 0, 0, FIELD_LIMITS.maxDurationMs);
  const keepFiringForMs = f.duration("keepFiringFor", 0, 0, FIELD_LIMITS.maxDurationMs);
  const severity = f.oneOf<Severity>("severity", SEVERITIES, "warning");
  const labels = stringMap(f, "labels", bounds.maxLabels, FIELD_LIMITS.labelValueLength);
  for (const k of Object.keys(labels)) {
    if (RESERVED_LABELS.has(k)) f.add(`labels.${k}`, `${k} is set by the server and cannot be a rule label`);
  }
  const annotations = stringMap(f, "annotations", bounds.maxLabels, FIELD_LIMITS.annotationLength);
  let receiver: string | null = null;
  if (obj.receiver !== undefined && obj.receiver !== null) {
    if (typeof obj.receiver !== "string" || obj.receiver.length > 64) {
      f.add("receiver", "receiver must be a receiver id or null");
    } else receiver = obj.receiver;
  }
  let escalation: RuleInput["escalation"] = null;
  if (obj.escalation !== undefined && obj.escalation !== null) {
    const e = asObject(obj.escalation);
    if (!e || typeof e.receiver !== "string" || e.receiver.length > 64) {
      f.add("escalation.receiver", "escalation must be {receiver, after} or null");
    } else {
      const after = parseAlertDuration(e.after);
      if (after === null || after < 1000 || after > FIELD_LIMITS.maxDurationMs) {
        f.add(
          "escalation.after",
          `escalation.after must be a duration from 1s to ${FIELD_LIMITS.maxDurationMs} ms`,
        );
      } else escalation = { receiver: e.receiver, afterMs: after };
      const extra = Object.keys(e).filter((k) => k !== "receiver" && k !== "after");
      if (extra.length) f.add("escalation", `unknown field(s): ${extra.join(", ")}`);
    }
  }
  if (obj.enabled !== undefined && typeof obj.enabled !== "boolean") {
    f.add("enabled", "enabled must be true or false");
  }
  if (f.errors.length) return f.errors;
  return {
    name: name!,
    kind,
    eventType,
    filter,
    aggregate,
    windowMs,
    groupBy,
    metric,
    op,
    threshold,
    forMs,
    keepFiringForMs,
    severity,
    labels,
    annotations,
    receiver,
    escalation,
    enabled: obj.enabled !== false,
  };
}

function ruleFilter(f: Fields, bounds: InputBounds): RuleInput["filter"] {
  const raw = asObject(f.body.filter);
  if (!raw) return f.add("filter", "filter must be an object {deviceId?, metadata?}"), null;
  const out: NonNullable<RuleInput["filter"]> = {};
  const extra = Object.keys(raw).filter((k) => k !== "deviceId" && k !== "metadata");
  if (extra.length) f.add("filter", `unknown field(s): ${extra.join(", ")}`);
  if (raw.deviceId !== undefined) {
    if (typeof raw.deviceId !== "string" || !raw.deviceId || raw.deviceId.length > bounds.maxDeviceIdLength) {
      f.add(
        "filter.deviceId",
        `filter.deviceId must be a string of 1 to ${bounds.maxDeviceIdLength} characters`,
      );
    } else out.deviceId = raw.deviceId;
  }
  if (raw.metadata !== undefined) {
    const m = asObject(raw.metadata);
    const entries = m ? Object.entries(m) : [];
    if (
      !m || entries.length > 16 || entries.some(([k, v]) =>
        k.length === 0 || k.length > 128 ||
        !(typeof v === "string" && v.length <= 1024 || typeof v === "number" && Number.isFinite(v) ||
          typeof v === "boolean")
      )
    ) {
      f.add("filter.metadata", "filter.metadata must map at most 16 keys to strings, numbers or booleans");
    } else if (entries.length) out.metadata = m as Record<string, string | number | boolean>;
  }
  return out;
}

/**
 * Validates a receiver body. Only http and https URLs are accepted, with an allow-list
 * (`ALERTS_WEBHOOK_ALLOWED_HOSTS`) only its hosts, and an IP literal only outside the denied
 * ranges (loopback, private, …) unless `allowedNetworks` holds it (names are checked at delivery).
 */
export function validateReceiver(
  body: unknown,
  allowedHosts: HostAllowList = null,
  allowedNetworks: readonly Network[] = [],
): ReceiverInput | FieldError[] {
  const obj = asObject(body);
  if (!obj) return [{ field: "body", message: "body must be a JSON object" }];
  const f = new Fields(obj);
  f.unknown(
    new Set(["name", "url", "groupWait", "groupInterval", "repeatInterval", "groupBy"]),
    SERVER_FIELDS,
  );
  const name = f.text("name", FIELD_LIMITS.nameLength);
  const url = f.text("url", FIELD_LIMITS.urlLength);
  const problem = url === undefined ? null : receiverUrlProblem(url, allowedHosts, allowedNetworks);
  if (problem) f.add("url", problem);
  const max = FIELD_LIMITS.maxDurationMs;
  const groupWaitMs = f.duration("groupWait", 30_000, 0, max);
  const groupIntervalMs = f.duration("groupInterval", 300_000, 0, max);
  const repeatIntervalMs = f.duration("repeatInterval", 4 * 3_600_000, 1000, max);
  let groupBy: string[] = ["alertname"];
  if (obj.groupBy !== undefined) {
    const g = obj.groupBy;
    if (!Array.isArray(g) || g.length > 16 || g.some((n) => typeof n !== "string" || !LABEL_NAME.test(n))) {
      f.add("groupBy", "groupBy must be an array of at most 16 label names");
    } else groupBy = [...new Set(g as string[])];
  }
  if (f.errors.length) return f.errors;
  return { name: name!, url: url!, groupWaitMs, groupIntervalMs, repeatIntervalMs, groupBy };
}

/** Validates a silence body at `now` (startsAt defaults to now; endsAt must be after it). */
export function validateSilence(
  body: unknown,
  now: number,
  maxMatchers: number,
): SilenceInput | FieldError[] {
  const obj = asObject(body);
  if (!obj) return [{ field: "body", message: "body must be a JSON object" }];
  const f = new Fields(obj);
  f.unknown(new Set(["matchers", "startsAt", "endsAt", "comment"]), new Set(["id", "createdBy"]));
  const matchers: Matcher[] = [];
  const raw = obj.matchers;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > maxMatchers) {
    f.add("matchers", `matchers must be an array of 1 to ${maxMatchers} matchers`);
  } else {
    raw.forEach((m, i) => {
      const o = asObject(m);
      const field = `matchers.${i}`;
      if (
        !o || typeof o.name !== "string" || !LABEL_NAME.test(o.name) || typeof o.value !== "string" ||
        o.value.length > FIELD_LIMITS.labelValueLength
      ) {
        return f.add(
          field,
          "a matcher is {name, value, isRegex?, isEqual?} with a label name and a string value",
        );
      }
      const matcher: Matcher = {
        name: o.name,
        value: o.value,
        isRegex: o.isRegex === true,
        isEqual: o.isEqual !== false,
      };
      if (matcher.isRegex) {
        try {
          compileMatcher(matcher);
        } catch (e) {
          if (!(e instanceof PatternError)) throw e;
          return f.add(
            `${field}.value`,
            `matcher ${matcher.name}: not a supported regular expression: ${e.message}`,
          );
        }
      }
      matchers.push(matcher);
    });
  }
  const time = (field: string, fallback?: number): number => {
    const v = obj[field];
    if (v === undefined && fallback !== undefined) return fallback;
    const ms = typeof v === "number" ? v : typeof v === "string" ? Date.parse(v) : NaN;
    if (!Number.isSafeInteger(ms) || Math.abs(ms) > 8.64e15) {
      f.add(field, `${field} must be an ISO-8601 time or epoch ms`);
      return NaN;
    }
    return ms;
  };
  const startsAt = time("startsAt", now);
  const endsAt = time("endsAt");
  if (endsAt <= Math.max(startsAt, now)) f.add("endsAt", "endsAt must be after startsAt and in the future");
  else if (endsAt - startsAt > FIELD_LIMITS.maxSilenceMs) {
    f.add("endsAt", "a silence may last at most 365 days");
  }
  let comment = "";
  if (obj.comment !== undefined) {
    if (typeof obj.comment !== "string" || obj.comment.length > FIELD_LIMITS.commentLength) {
      f.add("comment", `comment must be a string of at most ${FIELD_LIMITS.commentLength} characters`);
    } else comment = obj.comment;
  }
  if (f.errors.length) return f.errors;
  return { matchers, startsAt, endsAt, comment };
}
