/**
 * The instruments PulseStream updates on its hot paths, built once per server:
 * the registry, ingest outcome counters per transport, HTTP request durations,
 * group-commit histograms and the event-loop delay sampler. Figures that
 * components already keep (queue depth, watermarks, subscribers, store size)
 * are not mirrored here: `pulse-collectors.ts` reads them at scrape time.
 *
 * Plugging another subsystem in: call `registry.collect(() => families)` (see
 * `registry.ts` and docs/OBSERVABILITY.md) or register instruments on
 * `registry` and resolve their label children once.
 */
import type { Logger } from "../logger.ts";
import { EventLoopDelaySampler } from "./event-loop-delay.ts";
import { type IngestOutcomesByTransport, registerIngestOutcomes } from "./ingest-outcomes.ts";
import {
  type CounterChild,
  type GaugeChild,
  type Histogram,
  type HistogramChild,
  MetricsRegistry,
} from "./registry.ts";

/** Request durations, seconds: sub-millisecond reads up to slow bulk imports. */
export const HTTP_DURATION_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];
/** Events per group-commit transaction. */
export const COMMIT_BATCH_BUCKETS = [
  1,
  2,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10000,
  20000,
  50000,
];
/** Commit transaction durations, seconds. */
export const COMMIT_DURATION_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
];
/** Event-loop delay, seconds. */
export const EVENT_LOOP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Most distinct (route, method, code) series before further ones are counted as route "other". */
const MAX_HTTP_SERIES = 2000;
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Event-loop delay above this within a watch period is logged (warn). */
const BLOCKED_LOOP_MS = 1000;

/** What the 1 s watcher reads to log transitions (overload entered / left). */
export interface WatchedState {
  /** Whether the commit queue is saturated (≥ 90 %). */
  saturated(): boolean;
  queuedEvents(): number;
}

export interface ObservabilityOptions {
  /** `false` (METRICS_INSTRUMENTATION=off): every instrument is a no-op and /metrics is not served. */
  enabled: boolean;
  logger: Logger;
  /** Event-loop sampling period, ms (default 100). */
  eventLoopIntervalMs?: number;
  /** How often overload and event-loop stalls are checked for notable-event logs, ms (default 1000). */
  watchIntervalMs?: number;
}

/** What one group-commit transaction did (the committer's `onCommit` observation). */
export interface CommitInfo {
  events: number;
  requests: number;
  durationMs: number;
  ok: boolean;
}

export class Observability {
  readonly registry: MetricsRegistry;
  /** `pulsestream_events_total` children per transport. */
  readonly ingest: IngestOutcomesByTransport;
  readonly eventLoop: EventLoopDelaySampler;
  readonly #httpDuration: Histogram<"method" | "route" | "code">;
  readonly #httpChildren = new Map<string, Map<string, Map<number, HistogramChild>>>();
  #httpSeries = 0;
  readonly httpInFlight: GaugeChild;
  readonly #commitEvents: HistogramChild;
  readonly #commitDuration: HistogramChild;
  readonly #commitFailures: CounterChild;

  constructor(private readonly options: ObservabilityOptions) {
    const { logger } = options;
    this.registry = new MetricsRegistry({
      enabled: options.enabled,
      onError: (message, error) => logger.warn(message, error === undefined ? {} : { error: String(error) }),
    });
    const r = this.registry;
    this.ingest = registerIngestOutcomes(r);
    this.#httpDuration = r.histogram({
      name: "pulsestream_http_request_duration_seconds",
      help:
        "HTTP request duration until the response head, by method, matched route pattern and status code.",
      labelNames: ["method", "route", "code"],
      buckets: HTTP_DURATION_BUCKETS,
    });
    this.httpInFlight = r.gauge({
      name: "pulsestream_http_requests_in_flight",
      help: "HTTP requests being handled now.",
    }).labels();
    this.#commitEvents = r.histogram({
      name: "pulsestream_commit_batch_events",
      help: "Events per group-commit transaction.",
      buckets: COMMIT_BATCH_BUCKETS,
    }).labels();
    this.#commitDuration = r.histogram({
      name: "pulsestream_commit_duration_seconds",
      help:
        "Duration of group-commit store transactions (successful or not), without the stream processing after them.",
      buckets: COMMIT_DURATION_BUCKETS,
    }).labels();
    this.#commitFailures = r.counter({
      name: "pulsestream_commit_failures_total",
      help: "Group-commit transactions that failed (their requests got 503).",
    }).labels();
    this.eventLoop = new EventLoopDelaySampler(
      r.histogram({
        name: "pulsestream_event_loop_delay_seconds",
        help: "Event-loop delay: how late a 100 ms timer fires (timer drift).",
        buckets: EVENT_LOOP_BUCKETS,
      }).labels(),
      { intervalMs: options.eventLoopIntervalMs },
    );
  }

  get enabled(): boolean {
    return this.registry.enabled;
  }

  #watch: ReturnType<typeof setInterval> | null = null;
  #overloaded = false;

  /**
   * Starts the event-loop sampler and the watcher that logs notable transitions: `commit queue
   * saturated` (warn) / `commit queue recovered` (info), and `event loop blocked` (warn) when a
   * sample exceeded 1 s. Both run even with instrumentation off (one timer each; the histogram
   * is then a no-op), so those logs never depend on METRICS_INSTRUMENTATION.
   */
  start(state?: WatchedState): void {
    this.eventLoop.start();
    if (!state || this.#watch) return;
    this.#watch = setInterval(() => this.checkNotable(state), this.options.watchIntervalMs ?? 1000);
    (this.#watch as { unref?: () => void }).unref?.();
  }

  /** One watcher round (exposed for tests). */
  checkNotable(state: WatchedState): void {
    const { logger } = this.options;
    const saturated = state.saturated();
    if (saturated !== this.#overloaded) {
      this.#overloaded = saturated;
      if (saturated) logger.warn("commit queue saturated", { queuedEvents: state.queuedEvents() });
      else logger.info("commit queue recovered", { queuedEvents: state.queuedEvents() });
    }
    const maxMs = this.eventLoop.takeMaxMs();
    if (maxMs > BLOCKED_LOOP_MS) logger.warn("event loop blocked", { delayMs: Math.round(maxMs) });
  }

  close(): void {
    this.eventLoop.stop();
    if (this.#watch) clearInterval(this.#watch);
    this.#watch = null;
  }

  /**
   * Feeds `pulsestream_http_request_duration_seconds` and `pulsestream_http_requests_in_flight`
   * from the request-log middleware (`http/request-log.ts`).
   */
  readonly requests = {
    started: () => this.httpInFlight.inc(),
    finished: (method: string, route: string, code: number, seconds: number) => {
      this.httpInFlight.dec();
      this.observeRequest(method, route, code, seconds);
    },
  };

  /** Records one HTTP request; `route` is the matched route pattern (never the raw path). */
  observeRequest(method: string, route: string, code: number, seconds: number): void {
    const m = METHODS.has(method) ? method : "other";
    let byMethod = this.#httpChildren.get(route);
    if (!byMethod) {
      if (this.#httpSeries >= MAX_HTTP_SERIES && route !== "other") {
        return this.observeRequest(method, "other", code, seconds);
      }
      byMethod = new Map();
      this.#httpChildren.set(route, byMethod);
    }
    let byCode = byMethod.get(m);
    if (!byCode) byMethod.set(m, byCode = new Map());
    let child = byCode.get(code);
    if (!child) {
      this.#httpSeries++;
      child = this.#httpDuration.labels(m, route, String(code));
      byCode.set(code, child);
    }
    child.observe(seconds);
  }

  /** The group committer's observation of each transaction. */
  onCommit(info: CommitInfo): void {
    this.#commitEvents.observe(info.events);
    this.#commitDuration.observe(info.durationMs / 1000);
    if (!info.ok) {
      this.#commitFailures.inc();
      this.options.logger.error("commit failed", {
        events: info.events,
        requests: info.requests,
        durationMs: Math.round(info.durationMs * 100) / 100,
      });
    }
  }
}
