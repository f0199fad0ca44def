/**
 * The webhook body: Alertmanager's webhook payload, version "4"
 * (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config),
 * so receivers written for Alertmanager work unchanged.
 */
import type { AlertInstance } from "./model.ts";

/** Alertmanager's zero time: the `endsAt` of a firing alert. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

export interface WebhookAlert {
  status: "firing" | "resolved";
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface WebhookPayload {
  version: "4";
  groupKey: string;
  truncatedAlerts: number;
  status: "firing" | "resolved";
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

/** One alert of a payload; `startsAt` is when it started firing, as Prometheus sends it. */
export function webhookAlert(i: AlertInstance, externalURL: string): WebhookAlert {
  const resolved = i.state !== "firing";
  return {
    status: resolved ? "resolved" : "firing",
    labels: i.labels,
    annotations: i.annotations,
    startsAt: new Date(i.firedAt ?? i.activeAt ?? 0).toISOString(),
    endsAt: resolved && i.resolvedAt !== null ? new Date(i.resolvedAt).toISOString() : ZERO_TIME,
    generatorURL: `${externalURL}/v1/alerts/rules/${i.ruleId}`,
    fingerprint: i.fingerprint,
  };
}

/** The entries every map of `maps` has with the same value. */
function common(maps: Record<string, string>[]): Record<string, string> {
  if (maps.length === 0) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(maps[0])) if (maps.every((m) => m[k] === v)) out[k] = v;
  return out;
}

/** Length of `text` in UTF-8 bytes (what goes on the wire), without encoding it. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      // A surrogate pair is one code point of 4 bytes; a lone surrogate is sent as U+FFFD (3).
      if (next >= 0xdc00 && next <= 0xdfff) (bytes += 4), i++;
      else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * The payload of one group notification, alerts ordered firing first then by fingerprint. At
 * most `maxAlerts` alerts, and at most `maxBytes` of JSON in UTF-8 bytes: alerts beyond are
 * counted in `truncatedAlerts`. A single alert larger than `maxBytes` is still sent (alone).
 */
export function webhookPayload(options: {
  groupKey: string;
  receiver: string;
  groupLabels: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
  maxAlerts: number;
  maxBytes: number;
}): WebhookPayload {
  const sorted = [...options.alerts].sort((a, b) =>
    (a.status === b.status ? 0 : a.status === "firing" ? -1 : 1) || (a.fingerprint < b.fingerprint ? -1 : 1)
  );
  const kept = sorted.slice(0, options.maxAlerts);
  const build = (alerts: WebhookAlert[]): WebhookPayload => ({
    version: "4",
    groupKey: options.groupKey,
    truncatedAlerts: sorted.length - alerts.length,
    status: sorted.some((a) => a.status === "firing") ? "firing" : "resolved",
    receiver: options.receiver,
    groupLabels: options.groupLabels,
    commonLabels: common(alerts.map((a) => a.labels)),
    commonAnnotations: common(alerts.map((a) => a.annotations)),
    externalURL: options.externalURL,
    alerts,
  });
  let payload = build(kept);
  while (kept.length > 1 && utf8Length(JSON.stringify(payload)) > options.maxBytes) {
    kept.pop();
    payload = build(kept);
  }
  return payload;
}
