/** `/metrics` families of the reader worker (http/read-offload.ts). */
import type { MetricsRegistry } from "./registry.ts";

/** Registers the reader worker's families; returns the function that removes them. */
export function registerReadWorkerCollectors(
  registry: MetricsRegistry,
  offload: {
    readonly available: boolean;
    readonly counts: { metrics: number; export: number; eventsAfter: number };
  },
): () => void {
  return registry.collect(() => {
    const counts = offload.counts;
    return [
      {
        name: "pulsestream_read_worker_jobs_total",
        help:
          "Reads sent to the reader worker since start, by kind (metric series with sketches or raw events, exports, live replay pages).",
        type: "counter",
        samples: (["metrics", "export", "eventsAfter"] as const).map((kind) => ({
          labels: { kind },
          value: counts[kind],
        })),
      },
      {
        name: "pulsestream_read_worker_up",
        help:
          "1 while the reader worker takes jobs; 0 once it failed (heavy reads then run on the ingest thread).",
        type: "gauge",
        samples: [{ labels: {}, value: offload.available ? 1 : 0 }],
      },
    ];
  });
}
