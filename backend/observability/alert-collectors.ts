/**
 * Scrape-time collector for the alerting subsystem: alert instances by state
 * and severity, notification delivery outcomes, the notification outbox and
 * the last evaluation round. Labels are bounded sets (state, severity,
 * outcome, status); rule names and alert labels never become metric labels.
 */
import type { AlertingMetrics } from "../alerts/alerting.ts";
import type { MetricFamily } from "./exposition.ts";
import type { MetricsRegistry } from "./registry.ts";

/** Registers the alerting collector; `snapshot` is `Alerting.metricsSnapshot`. */
export function registerAlertCollectors(
  registry: MetricsRegistry,
  snapshot: () => AlertingMetrics,
): () => void {
  return registry.collect(() => alertFamilies(snapshot()));
}

/** The metric families of one alerting snapshot. */
export function alertFamilies(m: AlertingMetrics): MetricFamily[] {
  return [
    {
      name: "pulsestream_alerts",
      help: "Alert instances held now, by state and severity.",
      type: "gauge",
      samples: Object.entries(m.alerts).flatMap(([state, bySeverity]) =>
        Object.entries(bySeverity).map(([severity, value]) => ({ labels: { state, severity }, value }))
      ),
    },
    {
      name: "pulsestream_alert_rules",
      help: "Alert rules configured.",
      type: "gauge",
      samples: [{ value: m.rules }],
    },
    {
      name: "pulsestream_alert_rules_truncated",
      help:
        "Per-device alert rules whose last evaluation read only ALERTS_MAX_SERIES_PER_RULE series (more devices matched).",
      type: "gauge",
      samples: [{ value: m.rulesTruncated }],
    },
    {
      name: "pulsestream_alert_notifications_total",
      help:
        "Webhook notification outcomes since start: sent (2xx), failed attempts, retried attempts, dead (gave up).",
      type: "counter",
      samples: Object.entries(m.notifications).map(([outcome, value]) => ({ labels: { outcome }, value })),
    },
    {
      name: "pulsestream_alert_outbox_items",
      help: "Notification outbox items by status, as last counted.",
      type: "gauge",
      samples: Object.entries(m.outbox).map(([status, value]) => ({ labels: { status }, value })),
    },
    {
      name: "pulsestream_alert_evaluation_duration_seconds",
      help: "Duration of the last alert evaluation round.",
      type: "gauge",
      samples: [{ value: m.lastRound.durationMs / 1000 }],
    },
    {
      name: "pulsestream_alert_evaluation_queries",
      help: "Metric queries run by the last alert evaluation round.",
      type: "gauge",
      samples: [{ value: m.lastRound.queries }],
    },
  ];
}
