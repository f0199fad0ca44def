/**
 * The alerting domain: rules, receivers, silences, alert instances and their
 * transitions, as the core keeps them (times in epoch ms, durations in ms).
 * The HTTP shapes (ISO times, "30s" durations) are rendered in `render.ts`.
 */
import { type AggregateName, AGGREGATES } from "../../shared/aggregates.ts";

export type RuleKind = "threshold" | "nodata" | "system";
export type Comparison = ">" | ">=" | "<" | "<=" | "==" | "!=";
export type Severity = "critical" | "warning" | "info";
export type SystemMetric = "error_rate" | "overload";
export type AlertState = "inactive" | "pending" | "firing" | "resolved";

export const COMPARISONS: readonly Comparison[] = [">", ">=", "<", "<=", "==", "!="];
export const SEVERITIES: readonly Severity[] = ["critical", "warning", "info"];
export const SYSTEM_METRICS: readonly SystemMetric[] = ["error_rate", "overload"];
export const RULE_AGGREGATES: readonly AggregateName[] = AGGREGATES;

/** An alert rule as stored. */
export interface AlertRule {
  /** `rul_` + 16 hex digits. */
  id: string;
  name: string;
  kind: RuleKind;
  /** threshold and nodata rules: the event type read. */
  eventType: string | null;
  filter: { deviceId?: string; metadata?: Record<string, string | number | boolean> } | null;
  aggregate: AggregateName;
  /** Length of the window the aggregate covers, ms. */
  windowMs: number;
  groupBy: "device" | "none";
  /** system rules only. */
  metric: SystemMetric | null;
  op: Comparison;
  threshold: number;
  /** How long the condition must hold before the alert fires, ms. */
  forMs: number;
  /** How long a firing alert keeps firing after the condition stopped holding, ms. */
  keepFiringForMs: number;
  severity: Severity;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Receiver id, or null (no notification). */
  receiver: string | null;
  escalation: { receiver: string; afterMs: number } | null;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
}

/** A webhook receiver. */
export interface Receiver {
  /** `rcv_` + 16 hex digits. */
  id: string;
  name: string;
  url: string;
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
  /** Label names alerts are grouped by (empty: one group per receiver). */
  groupBy: string[];
  createdAt: number;
  updatedAt: number;
}

/** One label matcher of a silence (Alertmanager semantics). */
export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  /** false: the matcher negates (`!=`, `!~`). */
  isEqual: boolean;
}

export interface Silence {
  /** `sil_` + 16 hex digits. */
  id: string;
  matchers: Matcher[];
  startsAt: number;
  endsAt: number;
  /** Key id of the admin who created it. */
  createdBy: string;
  comment: string;
}

/** One alert instance: a rule and a label set. */
export interface AlertInstance {
  /** 16 hex digits, `fingerprint(labels)`. */
  fingerprint: string;
  ruleId: string;
  state: AlertState;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number | null;
  /** When it last became pending, ms (null while inactive). */
  activeAt: number | null;
  firedAt: number | null;
  resolvedAt: number | null;
  /** Last evaluation at which the condition held. */
  lastTrueAt: number | null;
  /** While firing: the first evaluation since which the condition has not held (keepFiringFor counts from it). */
  keepFiringSince: number | null;
}

/** One state change, as history keeps it. */
export interface AlertTransition {
  /** Assigned by the store, increasing. */
  seq: number;
  at: number;
  ruleId: string;
  fingerprint: string;
  labels: Record<string, string>;
  from: AlertState;
  to: AlertState;
  value: number | null;
}

/** Notification outbox status: waiting (group timer running), pending (to deliver), sent, dead, skipped. */
export type OutboxStatus = "waiting" | "pending" | "sent" | "dead" | "skipped";

/** One notification of a group to a receiver: the unit of delivery and of dedup. */
export interface OutboxItem {
  /** `ntf_` + 32 hex digits: sent as `Idempotency-Key` with every attempt. */
  id: string;
  receiverId: string;
  groupKey: string;
  status: OutboxStatus;
  /** The rendered webhook body (null while waiting). */
  payload: string | null;
  /** When the group timer ends (waiting) or the next attempt is due (pending). */
  dueAt: number;
  attempts: number;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

/** What a group last sent: fingerprint → status sent, and when. */
export interface GroupRecord {
  receiverId: string;
  groupKey: string;
  groupLabels: Record<string, string>;
  sent: Record<string, "firing" | "resolved">;
  lastSentAt: number | null;
}
