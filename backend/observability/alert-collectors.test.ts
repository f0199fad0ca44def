import { describe, expect, it } from "vitest";
import type { AlertingMetrics } from "../alerts/alerting.ts";
import { registerAlertCollectors } from "./alert-collectors.ts";
import { MetricsRegistry } from "./registry.ts";

const zero = { critical: 0, warning: 0, info: 0 };
const snapshot: AlertingMetrics = {
  alerts: {
    inactive: zero,
    pending: { ...zero, warning: 2 },
    firing: { ...zero, critical: 1 },
    resolved: zero,
  },
  notifications: { sent: 5, failed: 3, retried: 3, dead: 1 },
  outbox: { waiting: 1, pending: 2, sent: 5, dead: 1, skipped: 0 },
  outboxDepth: 3,
  lastRound: { at: 0, durationMs: 12.5, rules: 4, queries: 2 },
  rules: 4,
  rulesTruncated: 1,
};

describe("registerAlertCollectors", () => {
  it("exposes alert states, notification outcomes, the outbox and the last round at scrape time", async () => {
    const registry = new MetricsRegistry();
    let current = snapshot;
    const remove = registerAlertCollectors(registry, () => current);
    const text = await registry.render();
    const lines = text.split("\n").filter((l) => l.startsWith("pulsestream_"));
    expect(lines).toContain('pulsestream_alerts{state="firing",severity="critical"} 1');
    expect(lines).toContain('pulsestream_alerts{state="pending",severity="warning"} 2');
    expect(lines).toContain('pulsestream_alerts{state="resolved",severity="info"} 0');
    expect(lines.filter((l) => l.startsWith("pulsestream_alerts{"))).toHaveLength(12);
    expect(lines).toContain("pulsestream_alert_rules 4");
    expect(lines).toContain("pulsestream_alert_rules_truncated 1");
    expect(lines).toContain('pulsestream_alert_notifications_total{outcome="sent"} 5');
    expect(lines).toContain('pulsestream_alert_notifications_total{outcome="dead"} 1');
    expect(lines).toContain('pulsestream_alert_outbox_items{status="pending"} 2');
    expect(lines).toContain("pulsestream_alert_evaluation_duration_seconds 0.0125");
    expect(lines).toContain("pulsestream_alert_evaluation_queries 2");
    expect(text).toContain("# TYPE pulsestream_alert_notifications_total counter\n");

    current = { ...snapshot, rules: 7 };
    expect(await registry.render()).toContain("pulsestream_alert_rules 7\n");
    remove();
    expect(await registry.render()).not.toContain("pulsestream_alert");
  });
});
