/**
 * Scrape-time collector for the dead-letter queue: items kept per kind
 * (`rollup-flush`, `event`, `notification`), pending and replayed. Kinds are
 * the fixed set of producers, so the series count is bounded.
 */
import type { DeadLetterCount } from "../store/storage-store.ts";
import type { MetricsRegistry } from "./registry.ts";

/** Registers the collector; `counts` is `DeadLetterService.counts` (one small grouped query). */
export function registerDeadLetterCollectors(
  registry: MetricsRegistry,
  counts: () => Promise<readonly DeadLetterCount[]>,
): () => void {
  return registry.collect(async () => {
    const rows = await counts();
    return [{
      name: "pulsestream_dead_letters",
      help: "Items kept in the dead-letter queue, by kind and state (pending, replayed).",
      type: "gauge",
      samples: rows.flatMap((r) => [
        { labels: { kind: r.kind, state: "pending" }, value: r.pending },
        { labels: { kind: r.kind, state: "replayed" }, value: r.replayed },
      ]),
    }];
  });
}
