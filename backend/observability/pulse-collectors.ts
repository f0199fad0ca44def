/**
 * Scrape-time collectors for figures PulseStream's components already keep:
 * commit queue, stream engine (watermarks, late events, receive → aggregate
 * latency), live subscribers, store size, process memory and CPU, start time
 * and build info. Nothing here runs on an ingest path.
 */
import type { GroupCommitter } from "../ingest/group-committer.ts";
import type { LiveHub } from "../realtime/live-hub.ts";
import type { Store, StoreStats } from "../store/store.ts";
import type { StreamEngine } from "../stream/engine.ts";
import { LATENCY_BUCKETS_MS, type LatencyHistogram } from "../stream/latency.ts";
import type { Clock } from "../clock.ts";
import type { MetricFamily } from "./exposition.ts";
import type { MetricsRegistry } from "./registry.ts";

export interface PulseCollectorDeps {
  committer: GroupCommitter;
  /** COMMIT_QUEUE_MAX_EVENTS. */
  maxQueuedEvents: number;
  /** Null when stream processing is off. */
  engine: StreamEngine | null;
  latency: LatencyHistogram | null;
  hub: LiveHub;
  store: Store;
  clock: Clock;
  /** Server start, epoch ms. */
  startedAt: number;
  version: string;
  /** Store size is read at most this often, ms (its event count scans an index). Default 15 s. */
  storeStatsMaxAgeMs?: number;
  /** Process memory and CPU; default: the runtime's `process` global where there is one. */
  processStats?: () => ProcessStats | null;
}

/** What the runtime tells about the process. */
export interface ProcessStats {
  rssBytes: number;
  heapTotalBytes: number;
  heapUsedBytes: number;
  /** User + system CPU time, seconds, or null where unknown. */
  cpuSeconds: number | null;
}

const gauge = (name: string, help: string, value: number): MetricFamily => ({
  name,
  help,
  type: "gauge",
  samples: [{ value }],
});
const counter = (name: string, help: string, value: number): MetricFamily => ({
  name,
  help,
  type: "counter",
  samples: [{ value }],
});

/** Registers every PulseStream collector on `registry`. */
export function registerPulseCollectors(registry: MetricsRegistry, deps: PulseCollectorDeps): void {
  const runtime = runtimeName();
  registry.collect(() => [
    gauge(
      "pulsestream_commit_queue_events",
      "Events waiting for a group-commit transaction.",
      deps.committer.queuedEvents,
    ),
    gauge(
      "pulsestream_commit_queue_capacity_events",
      "Most events the commit queue holds before ingestion answers 503 (COMMIT_QUEUE_MAX_EVENTS).",
      deps.maxQueuedEvents,
    ),
    gauge("pulsestream_live_subscribers", "Live subscribers (SSE and WebSocket).", deps.hub.size),
    counter(
      "pulsestream_live_delivered_messages_total",
      "Messages handed to live subscribers' transports.",
      deps.hub.counters.delivered,
    ),
    counter(
      "pulsestream_live_lagged_total",
      "Times a live subscriber fell behind and skipped ahead.",
      deps.hub.counters.lagged,
    ),
    counter(
      "pulsestream_live_closed_total",
      "Live subscribers the server closed (too slow, not reading, key revoked, buffers full).",
      deps.hub.counters.closed,
    ),
    gauge(
      "pulsestream_live_buffered_bytes",
      "Bytes held for live subscribers (bounded by LIVE_MAX_TOTAL_BUFFERED_BYTES).",
      deps.hub.counters.bufferedBytes,
    ),
    {
      name: "pulsestream_build_info",
      help: "Always 1; labels: PulseStream version and runtime.",
      type: "gauge",
      samples: [{ labels: { version: deps.version, runtime }, value: 1 }],
    },
    gauge(
      "process_start_time_seconds",
      "Start time of the server, seconds since the Unix epoch.",
      deps.startedAt / 1000,
    ),
  ]);
  if (deps.engine) registry.collect(streamCollector(deps.engine, deps.latency, deps.clock));
  registry.collect(storeCollector(deps.store, deps.clock, deps.storeStatsMaxAgeMs ?? 15_000));
  const readProcess = deps.processStats ?? runtimeProcessStats;
  registry.collect(() => {
    const p = readProcess();
    if (!p) return [];
    const out = [
      gauge("process_resident_memory_bytes", "Resident memory size in bytes.", p.rssBytes),
      gauge(
        "pulsestream_heap_total_bytes",
        "JavaScript heap allocated (V8 heapTotal), in bytes.",
        p.heapTotalBytes,
      ),
      gauge("pulsestream_heap_used_bytes", "JavaScript heap in use, bytes.", p.heapUsedBytes),
    ];
    if (p.cpuSeconds !== null) {
      out.push(
        counter(
          "process_cpu_seconds_total",
          "Total user and system CPU time spent in seconds.",
          p.cpuSeconds,
        ),
      );
    }
    return out;
  });
}

function streamCollector(engine: StreamEngine, latency: LatencyHistogram | null, clock: Clock) {
  return (): MetricFamily[] => {
    const now = clock.now();
    const lag = engine.watermarks().flatMap((w, partition) =>
      Number.isFinite(w) ? [{ labels: { partition: String(partition) }, value: (now - w) / 1000 }] : []
    );
    const out: MetricFamily[] = [
      {
        name: "pulsestream_stream_watermark_lag_seconds",
        help: "Clock minus the partition's watermark (includes ALLOWED_LATENESS_MS), by partition.",
        type: "gauge",
        samples: lag,
      },
      counter(
        "pulsestream_stream_processed_events_total",
        "Events folded into windows since start (replayed ones included).",
        engine.processedEvents,
      ),
      counter(
        "pulsestream_stream_late_events_total",
        "Events that arrived after their finest window had closed (still counted, as corrections).",
        engine.lateEvents,
      ),
      ...seriesBudgetFamilies(engine),
    ];
    if (latency) {
      const s = latency.snapshot();
      out.push({
        name: "pulsestream_stream_receive_to_aggregate_seconds",
        help: "Latency from an event's receipt to its entering its live window.",
        type: "histogram",
        samples: [{
          buckets: LATENCY_BUCKETS_MS.map((ms, i) => [ms / 1000, s.buckets[i]] as const),
          sum: s.sumMs / 1000,
          count: s.count,
        }],
      });
    }
    return out;
  };
}

/** The series budget (STREAM_MAX_SERIES, stream/series-budget.ts). */
function seriesBudgetFamilies(engine: StreamEngine): MetricFamily[] {
  const f = engine.seriesFigures();
  const out = [
    gauge(
      "pulsestream_stream_tracked_series",
      "Per-device series (event type × device) the engine aggregates per device.",
      f.trackedSeries,
    ),
    counter(
      "pulsestream_stream_series_over_budget_events_total",
      "Events of series over STREAM_MAX_SERIES since start (stored raw, in all-device aggregates only).",
      f.overBudgetEvents,
    ),
    gauge(
      "pulsestream_stream_series_over_budget",
      "Distinct series over STREAM_MAX_SERIES since start (HyperLogLog estimate, within about 2 %).",
      f.overBudgetSeries,
    ),
  ];
  if (Number.isFinite(f.maxSeries)) {
    out.push(gauge("pulsestream_stream_max_series", "The series budget (STREAM_MAX_SERIES).", f.maxSeries));
  }
  return out;
}

/** Store size and event count, cached for `maxAgeMs` (reading them scans an index). */
function storeCollector(store: Store, clock: Clock, maxAgeMs: number) {
  let cached: { at: number; stats: StoreStats } | null = null;
  let reading: Promise<StoreStats> | null = null;
  return async (): Promise<MetricFamily[]> => {
    if (!cached || clock.now() - cached.at >= maxAgeMs) {
      reading ??= store.stats().finally(() => (reading = null));
      cached = { at: clock.now(), stats: await reading };
    }
    return [
      gauge(
        "pulsestream_store_size_bytes",
        "Bytes the store uses on disk (0 where it cannot tell).",
        cached.stats.bytes,
      ),
      gauge("pulsestream_store_events", "Events stored.", cached.stats.events),
    ];
  };
}

/** Memory and CPU from the `process` global that Node and Deno 2 both provide. */
function runtimeProcessStats(): ProcessStats | null {
  const p = (globalThis as {
    process?: {
      memoryUsage?: () => { rss: number; heapTotal: number; heapUsed: number };
      cpuUsage?: () => { user: number; system: number };
    };
  }).process;
  const m = p?.memoryUsage?.();
  if (!m) return null;
  const cpu = p?.cpuUsage?.();
  return {
    rssBytes: m.rss,
    heapTotalBytes: m.heapTotal,
    heapUsedBytes: m.heapUsed,
    cpuSeconds: cpu ? (cpu.user + cpu.system) / 1e6 : null,
  };
}

/** `deno/2.5.6`, `node/22.1.0`: from the Web-standard `navigator.userAgent`. */
function runtimeName(): string {
  const ua = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? "";
  const m = /^(Deno|Node\.js|Bun)\/(\S+)/.exec(ua);
  if (m) return `${m[1] === "Node.js" ? "node" : m[1].toLowerCase()}/${m[2]}`;
  // Node 20 has no navigator.
  const node = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
  return node ? `node/${node}` : "unknown";
}
