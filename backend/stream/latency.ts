/**
 * Distribution of receive → live-aggregate latency: Prometheus-style
 * cumulative buckets (for /metrics) and a DDSketch for percentiles.
 */
import { DDSketch } from "@datadog/sketches-js";

/** Bucket upper bounds, ms. */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

export interface LatencySnapshot {
  count: number;
  sumMs: number;
  /** Cumulative counts per bucket of `LATENCY_BUCKETS_MS` (then +Inf = count). */
  buckets: number[];
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export class LatencyHistogram {
  #counts = new Array<number>(LATENCY_BUCKETS_MS.length).fill(0);
  #count = 0;
  #sum = 0;
  #sketch = new DDSketch({ relativeAccuracy: 0.01 });

  record(ms: number): void {
    const v = ms < 0 ? 0 : ms;
    this.#count++;
    this.#sum += v;
    for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
      if (v <= LATENCY_BUCKETS_MS[i]) {
        this.#counts[i]++;
        break;
      }
    }
    this.#sketch.accept(v);
  }

  snapshot(): LatencySnapshot {
    let running = 0;
    const buckets = this.#counts.map((n) => (running += n));
    const q = (x: number) => (this.#count ? this.#sketch.getValueAtQuantile(x) : null);
    return { count: this.#count, sumMs: this.#sum, buckets, p50: q(0.5), p95: q(0.95), p99: q(0.99) };
  }
}
