/** Limits on everything a client controls in the alerting API (config `alerts.limits`). */
export interface AlertLimits {
  /** Most rules stored. */
  maxRules: number;
  maxReceivers: number;
  /** Most silences that have not expired. */
  maxSilences: number;
  /** Most labels (and, separately, annotations) per rule; most matchers per silence. */
  maxLabels: number;
  /** Most alert instances (label sets) one rule may hold (per-device rules). */
  maxInstancesPerRule: number;
  /** Most series (devices) one per-device rule reads per evaluation; beyond, the rule is `truncated`. */
  maxSeriesPerRule: number;
  /** Most alerts in one webhook payload; the rest are counted in `truncatedAlerts`. */
  maxAlertsPerNotification: number;
}

export const DEFAULT_ALERT_LIMITS: AlertLimits = {
  maxRules: 2000,
  maxReceivers: 100,
  maxSilences: 1000,
  maxLabels: 32,
  maxInstancesPerRule: 1000,
  maxSeriesPerRule: 10_000,
  maxAlertsPerNotification: 100,
};

/** Fixed bounds of single fields. */
export const FIELD_LIMITS = {
  nameLength: 128,
  labelNameLength: 64,
  labelValueLength: 1024,
  annotationLength: 4096,
  urlLength: 2048,
  commentLength: 1024,
  /** Longest window, `for`, keepFiringFor, escalation and receiver interval. */
  maxDurationMs: 7 * 86_400_000,
  /** Longest silence. */
  maxSilenceMs: 365 * 86_400_000,
  /** Request bodies of the alerting API, bytes. */
  maxBodyBytes: 64 * 1024,
} as const;
