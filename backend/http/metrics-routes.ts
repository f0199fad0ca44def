/**
 * `/v1/metrics`: time series of aggregates, event types, latest values per
 * device, top-N devices, and a snapshot of the open windows. Read scope.
 * Handlers parse and check parameters, then call `MetricsService`.
 */
import { type Context, Hono } from "hono";
import type { FieldError } from "../../shared/event-schema.ts";
import { type AggregateName, AGGREGATES } from "../stream/aggregate.ts";
import type { StreamEngine } from "../stream/engine.ts";
import type { Clock } from "../clock.ts";
import type { Logger } from "../logger.ts";
import { parseDuration } from "../config.ts";
import { ValidationError } from "../errors.ts";
import type { FillMode, MetricsQuery, MetricsService } from "../metrics/metrics-query.ts";
import { SKETCH_AGGREGATES } from "../metrics/bucket-series.ts";
import type { ReadOffload } from "./read-offload.ts";
import type { AppEnv } from "./app-env.ts";
import { metricsHead, metricsSlicedStream } from "./metrics-json.ts";
import { metadataFilters, parseTime } from "./query-params.ts";
import { type AuthDeps, requireScope } from "./require-scope.ts";
import { readAdmission, type ReadAdmissionDeps } from "./read-admission.ts";

export interface MetricsRoutesDeps {
  auth: AuthDeps;
  clock: Clock;
  metrics: MetricsService;
  /** The live engine (null when stream processing is off). */
  engine: StreamEngine | null;
  maxSeries: number;
  maxNameLength: number;
  /** Bytes after which an answer stops writing series (`"truncated": true`). */
  maxAnswerBytes: number;
  logger: Logger;
  /** Read rate and heavy-read slots (shared with the other read routes). */
  reads: ReadAdmissionDeps;
  /** Runs sketch and raw-event series off this thread (a reader worker), when there is one. */
  offload?: ReadOffload | null;
}

/** Default range when `from` is absent. */
const DEFAULT_RANGE_MS = 3_600_000;
/** Candidate steps when `step` is absent: the finest giving at most AUTO_POINTS points. */
const AUTO_STEPS = [1, 5, 10, 30, 60, 300, 900, 1800, 3600, 21600, 43200, 86400].map((s) => s * 1000);
const AUTO_POINTS = 300;
const FILLS: readonly FillMode[] = ["null", "zero", "previous"];
const MAX_METADATA_FILTERS = 20;
const MAX_LIVE_WINDOWS = 10_000;
/** Most steps one hopping window may span. */
const MAX_WINDOW_STEPS = 1000;

export function metricsRoutes(deps: MetricsRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", requireScope("read", deps.auth));
  const heavy = readAdmission(deps.reads, { heavy: true });
  const light = readAdmission(deps.reads, { heavy: false });

  app.get("/", heavy, async (c) => {
    const errors: FieldError[] = [];
    const eventType = requiredName(c, "eventType", deps.maxNameLength, errors);
    const { from, to } = range(c, deps.clock.now(), errors);
    const deviceIds = deviceList(c, deps.maxNameLength, errors);
    const metadata = metadataFilters(c.req.queries(), MAX_METADATA_FILTERS, errors);
    const aggregates = aggregateList(c.req.query("agg") ?? "avg", "agg", errors);
    const fill = (c.req.query("fill") ?? "null") as FillMode;
    if (!FILLS.includes(fill)) errors.push({ field: "fill", message: "fill must be null, zero or previous" });
    const groupBy = c.req.query("groupBy");
    if (groupBy !== undefined && groupBy !== "deviceId") {
      errors.push({ field: "groupBy", message: "groupBy must be deviceId" });
    }
    const limit = intParam(c, "limit", 1, deps.maxSeries, deps.maxSeries, errors);
    let step = durationParam(c, "step", errors) ?? 0;
    const window = durationParam(c, "window", errors);
    if (window !== undefined && step > 0 && window / step > MAX_WINDOW_STEPS) {
      errors.push({ field: "window", message: `window may span at most ${MAX_WINDOW_STEPS} steps` });
    }
    if (errors.length) throw new ValidationError("Invalid query parameters", errors);
    if (step === 0) step = AUTO_STEPS.find((s) => (to - from) / s <= AUTO_POINTS) ?? AUTO_STEPS.at(-1)!;
    const query: MetricsQuery = {
      eventType: eventType!,
      deviceIds,
      metadata,
      from,
      to,
      step,
      aggregates,
      groupByDevice: groupBy === "deviceId",
      fill,
      limit,
      window,
    };
    const requestId = c.get("requestId");
    const onCut = (series: number, bytes: number) =>
      deps.logger.warn("metrics answer cut at METRICS_MAX_ANSWER_BYTES", { requestId, series, bytes });
    // Sketch merges and raw events cost microseconds per bucket or event: on a reader worker when
    // there is one. Scalar reads copy cached columns at a fraction of that and stay here.
    const offload = deps.offload?.available &&
      (aggregates.some((a) => SKETCH_AGGREGATES.has(a)) ||
        deps.metrics.sourceFor(step, metadata.length > 0) === "raw");
    // Written from the typed columns: the same text as c.json, at a fraction of the cost for large
    // answers (see metrics-json.ts), one slice of series per pull, up to the answer's byte bound.
    const body = offload
      ? await deps.offload!.metrics(query, { maxAnswerBytes: deps.maxAnswerBytes, onCut })
      : await (async () => {
        const result = await deps.metrics.querySlices(query);
        return metricsSlicedStream(metricsHead(query, result.source), result, {
          maxBytes: deps.maxAnswerBytes,
          onCut,
        });
      })();
    return c.body(body, 200, { "Content-Type": "application/json" });
  });

  app.get("/types", heavy, async (c) => {
    const types = await deps.metrics.types();
    return c.json({
      data: types.map((t) => ({
        eventType: t.eventType,
        count: t.count,
        devices: t.devices,
        firstSeen: iso(t.firstSeen),
        lastSeen: iso(t.lastSeen),
      })),
    });
  });

  app.get("/latest", light, async (c) => {
    const errors: FieldError[] = [];
    const eventType = requiredName(c, "eventType", deps.maxNameLength, errors);
    const deviceIds = deviceList(c, deps.maxNameLength, errors);
    const limit = intParam(c, "limit", 1, deps.maxSeries, 100, errors);
    if (errors.length) throw new ValidationError("Invalid query parameters", errors);
    const rows = await deps.metrics.latest(eventType!, deviceIds, limit);
    return c.json({
      eventType,
      data: rows.map((r) => ({
        deviceId: r.deviceId,
        lastValue: r.lastValue,
        lastValueAt: iso(r.lastValueAt),
        lastSeen: iso(r.lastSeen),
        count: r.count,
      })),
    });
  });

  app.get("/top", heavy, async (c) => {
    const errors: FieldError[] = [];
    const eventType = requiredName(c, "eventType", deps.maxNameLength, errors);
    const { from, to } = range(c, deps.clock.now(), errors);
    const [aggregate] = aggregateList(c.req.query("agg") ?? "avg", "agg", errors, true);
    const n = intParam(c, "n", 1, 1000, 10, errors);
    const order = (c.req.query("order") ?? "desc") as "desc" | "asc";
    if (order !== "desc" && order !== "asc") {
      errors.push({ field: "order", message: "order must be desc or asc" });
    }
    if (errors.length) throw new ValidationError("Invalid query parameters", errors);
    const top = await deps.metrics.top({ eventType: eventType!, aggregate, from, to, n, order });
    return c.json({
      eventType,
      aggregate,
      order,
      from: new Date(top.from).toISOString(),
      to: new Date(top.to).toISOString(),
      resolution: top.resolution,
      data: top.devices,
    });
  });

  app.get("/sessions", heavy, async (c) => {
    const errors: FieldError[] = [];
    const eventType = requiredName(c, "eventType", deps.maxNameLength, errors);
    const { from, to } = range(c, deps.clock.now(), errors);
    const deviceIds = deviceList(c, deps.maxNameLength, errors);
    const gap = durationParam(c, "gap", errors) ?? 300_000;
    const aggregates = aggregateList(c.req.query("agg") ?? "count", "agg", errors);
    const limit = intParam(c, "limit", 1, deps.maxSeries, 100, errors);
    if (errors.length) throw new ValidationError("Invalid query parameters", errors);
    const result = await deps.metrics.sessions({
      eventType: eventType!,
      deviceIds,
      from,
      to,
      gapMs: gap,
      aggregates,
      limit,
    });
    return c.json({
      eventType,
      gap,
      source: result.source === "raw" ? "raw" : `rollup:${result.source}`,
      truncated: result.truncated,
      data: result.devices.map((d) => ({
        deviceId: d.deviceId,
        sessions: d.sessions.map((s) => ({ start: iso(s.start), end: iso(s.end), ...s.values })),
      })),
    });
  });

  app.get("/live", light, (c) => {
    const errors: FieldError[] = [];
    const eventType = c.req.query("eventType");
    const deviceId = c.req.query("deviceId");
    const resolution = c.req.query("resolution");
    const res = resolution === undefined ? undefined : parseDuration(resolution);
    if (res === null) errors.push({ field: "resolution", message: "resolution must be like 1s, 1m, 1h" });
    if (errors.length) throw new ValidationError("Invalid query parameters", errors);
    const windows = deps.engine?.openWindows({
      eventType,
      deviceId: deviceId === undefined ? undefined : deviceId === "*" ? null : deviceId,
      resolution: res ?? undefined,
      limit: MAX_LIVE_WINDOWS + 1,
    }) ?? [];
    return c.json({ data: windows.slice(0, MAX_LIVE_WINDOWS), truncated: windows.length > MAX_LIVE_WINDOWS });
  });

  return app;
}

function requiredName(c: Context, field: string, max: number, errors: FieldError[]): string | undefined {
  const v = c.req.query(field);
  if (v === undefined || v === "") errors.push({ field, message: `${field} is required` });
  else if (v.length > max) errors.push({ field, message: `${field} must be at most ${max} characters` });
  return v;
}

function range(c: Context, now: number, errors: FieldError[]): { from: number; to: number } {
  const to = parseTime(c.req.query("to"), "to", now, errors) ?? now;
  const from = parseTime(c.req.query("from"), "from", now, errors) ?? to - DEFAULT_RANGE_MS;
  if (from >= to) errors.push({ field: "from", message: "from must be before to" });
  return { from, to };
}

function deviceList(c: Context, max: number, errors: FieldError[]): string[] {
  const ids = c.req.queries("deviceId") ?? [];
  for (const id of ids) {
    if (id === "" || id.length > max) {
      errors.push({ field: "deviceId", message: `deviceId must be 1-${max} characters` });
      return [];
    }
  }
  return [...new Set(ids)];
}

function aggregateList(raw: string, field: string, errors: FieldError[], single = false): AggregateName[] {
  const names = raw.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(AGGREGATES as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0) {
    errors.push({
      field,
      message: `unknown aggregate ${JSON.stringify(unknown[0] ?? raw)}; use ${AGGREGATES.join(", ")}`,
    });
    return ["avg"];
  }
  if (single && names.length > 1) errors.push({ field, message: `${field} takes one aggregate` });
  return [...new Set(names)] as AggregateName[];
}

function intParam(
  c: Context,
  field: string,
  min: number,
  max: number,
  fallback: number,
  errors: FieldError[],
) {
  const v = c.req.query(field);
  if (v === undefined) return fallback;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) {
    errors.push({ field, message: `${field} must be an integer from ${min} to ${max}` });
    return fallback;
  }
  return Number(v);
}

/** A duration parameter: whole seconds given as ms or like 10s, 1m, 1h, 1d; undefined if absent. */
function durationParam(c: Context, field: string, errors: FieldError[]): number | undefined {
  const raw = c.req.query(field);
  if (raw === undefined) return undefined;
  const parsed = /^\d{1,12}$/.test(raw) ? Number(raw) : parseDuration(raw);
  if (parsed === null || parsed < 1000 || parsed % 1000 !== 0) {
    errors.push({ field, message: `${field} must be whole seconds: ms, or like 10s, 1m, 1h, 1d` });
    return undefined;
  }
  return parsed;
}

function iso(t: number | null): string | null {
  return t === null ? null : new Date(t).toISOString();
}
