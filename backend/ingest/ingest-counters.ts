/**
 * The ingest figures of the live `stats` channel (the dashboard's overview
 * turns the totals into rates), read from the metrics registry so that the
 * dashboard and `/metrics` show one count: events accepted, duplicate,
 * rejected (every reason) and rate-limited, summed over the transports (HTTP,
 * WebSocket, import) of `pulsestream_events_total`, and group-commit sizes
 * from `pulsestream_commit_batch_events`. Nothing is counted here.
 */
import type { HistogramSample, ValueSample } from "../observability/exposition.ts";
import type { MetricsRegistry } from "../observability/registry.ts";

export interface IngestCountersSnapshot {
  accepted: number;
  duplicate: number;
  /** Events refused as invalid or too large (HTTP, WebSocket and import). */
  rejected: number;
  /** Events refused with 429 (every event of the request). */
  rateLimited: number;
  /** Group-commit transactions (failed ones included). */
  commits: number;
  /** Mean events per commit over the commits since the previous reading (the last commit's size if one). */
  lastCommitEvents: number;
  /** Mean events per commit since the process started. */
  meanCommitEvents: number;
}

/** `pulsestream_events_total` outcomes → snapshot fields (overloaded and failed are not shown). */
const OUTCOME_FIELDS = {
  accepted: "accepted",
  duplicate: "duplicate",
  rejected: "rejected",
  rate_limited: "rateLimited",
} as const;

export class IngestCounters {
  /** Commit count and events at the previous reading. */
  #seen = { count: 0, sum: 0 };
  #lastMean = 0;

  constructor(private readonly registry: MetricsRegistry) {}

  /** The figures now; null when the registry keeps none (METRICS_INSTRUMENTATION=off). */
  read(): IngestCountersSnapshot | null {
    const events = this.registry.read("pulsestream_events_total");
    const commits = this.registry.read("pulsestream_commit_batch_events");
    if (!events || !commits) return null;
    const out: IngestCountersSnapshot = {
      accepted: 0,
      duplicate: 0,
      rejected: 0,
      rateLimited: 0,
      commits: 0,
      lastCommitEvents: 0,
      meanCommitEvents: 0,
    };
    for (const sample of events.samples as readonly ValueSample[]) {
      const field = OUTCOME_FIELDS[sample.labels?.outcome as keyof typeof OUTCOME_FIELDS];
      if (field) out[field] += sample.value;
    }
    const { count = 0, sum = 0 } = (commits.samples[0] ?? {}) as Partial<HistogramSample>;
    if (count > this.#seen.count) {
      this.#lastMean = (sum - this.#seen.sum) / (count - this.#seen.count);
      this.#seen = { count, sum };
    }
    out.commits = count;
    out.lastCommitEvents = round1(this.#lastMean);
    out.meanCommitEvents = count ? round1(sum / count) : 0;
    return out;
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
