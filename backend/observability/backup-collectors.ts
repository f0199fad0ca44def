/**
 * Scrape-time collector for online backups (`POST /v1/admin/backup`): outcomes
 * since start, whether one is running, and the last one written, so an alert
 * can fire when no backup succeeded for a day
 * (`time() - pulsestream_backup_last_success_timestamp_seconds > 86400`).
 * Fixed label values only.
 */
import type { BackupCounts } from "../admin/backup-service.ts";
import type { MetricFamily } from "./exposition.ts";
import type { MetricsRegistry } from "./registry.ts";

/** Registers the collector; `read` gives the service's counts and whether a backup is running. */
export function registerBackupCollectors(
  registry: MetricsRegistry,
  read: () => { counts: BackupCounts; running: boolean },
): () => void {
  return registry.collect(() => {
    const { counts, running } = read();
    const families: MetricFamily[] = [
      {
        name: "pulsestream_backups_total",
        help: "Backups requested through the API since start, by outcome (written, failed, refused).",
        type: "counter",
        samples: (["written", "failed", "refused"] as const).map((outcome) => ({
          labels: { outcome },
          value: counts[outcome],
        })),
      },
      {
        name: "pulsestream_backup_running",
        help: "1 while a backup is being written.",
        type: "gauge",
        samples: [{ labels: {}, value: running ? 1 : 0 }],
      },
    ];
    if (counts.last) {
      families.push(
        {
          name: "pulsestream_backup_last_success_timestamp_seconds",
          help: "When the last backup written since start finished, Unix seconds.",
          type: "gauge",
          samples: [{ labels: {}, value: counts.last.at / 1000 }],
        },
        {
          name: "pulsestream_backup_last_duration_seconds",
          help: "How long the last backup written took.",
          type: "gauge",
          samples: [{ labels: {}, value: counts.last.durationMs / 1000 }],
        },
        {
          name: "pulsestream_backup_last_size_bytes",
          help: "Size of the last backup written.",
          type: "gauge",
          samples: [{ labels: {}, value: counts.last.bytes }],
        },
      );
    }
    return families;
  });
}
