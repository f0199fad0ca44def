/**
 * The HTTP shapes of the alerting API (docs/ALERTING.md, the dashboard's
 * contract): ISO-8601 times and "30s" durations.
 */
import { formatDuration } from "./duration.ts";
import type { RuleStatus } from "./evaluator.ts";
import type {
  AlertInstance,
  AlertRule,
  AlertState,
  AlertTransition,
  OutboxItem,
  Receiver,
  Silence,
} from "./model.ts";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A rule; `status` is what its last evaluation read (null: not evaluated, e.g. disabled). */
export function ruleJson(r: AlertRule, status: RuleStatus | null = null) {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    eventType: r.eventType,
    filter: r.filter,
    aggregate: r.kind === "system" ? null : r.aggregate,
    window: formatDuration(r.windowMs),
    groupBy: r.groupBy,
    metric: r.metric,
    op: r.op,
    threshold: r.threshold,
    for: formatDuration(r.forMs),
    keepFiringFor: formatDuration(r.keepFiringForMs),
    severity: r.severity,
    labels: r.labels,
    annotations: r.annotations,
    receiver: r.receiver,
    escalation: r.escalation
      ? { receiver: r.escalation.receiver, after: formatDuration(r.escalation.afterMs) }
      : null,
    enabled: r.enabled,
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
    status: status && {
      evaluatedEvery: formatDuration(status.stepMs),
      lastEvaluatedAt: iso(status.lastEvaluatedAt),
      series: status.series,
      truncated: status.truncated,
    },
  };
}

export function receiverJson(r: Receiver) {
  return {
    id: r.id,
    name: r.name,
    url: r.url,
    groupWait: formatDuration(r.groupWaitMs),
    groupInterval: formatDuration(r.groupIntervalMs),
    repeatInterval: formatDuration(r.repeatIntervalMs),
    groupBy: r.groupBy,
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
  };
}

/** A receiver for `read` keys: the URL cut to its origin (scheme, host, port), as the audit log keeps it. */
export function redactedReceiverJson(r: Receiver) {
  return { ...receiverJson(r), url: new URL(r.url).origin };
}

export function silenceJson(s: Silence, now: number) {
  return {
    id: s.id,
    matchers: s.matchers,
    startsAt: iso(s.startsAt),
    endsAt: iso(s.endsAt),
    createdBy: s.createdBy,
    comment: s.comment,
    status: s.endsAt <= now ? "expired" : s.startsAt > now ? "pending" : "active",
  };
}

/** An alert instance; `state` may be any state in live messages. */
export function alertJson(
  i: AlertInstance,
  rule: Pick<AlertRule, "name" | "severity"> | undefined,
  silenced: boolean,
) {
  return {
    fingerprint: i.fingerprint,
    ruleId: i.ruleId,
    ruleName: rule?.name ?? i.labels.alertname ?? null,
    severity: rule?.severity ?? i.labels.severity ?? null,
    state: i.state,
    labels: i.labels,
    annotations: i.annotations,
    value: i.value,
    activeAt: iso(i.activeAt),
    firedAt: iso(i.firedAt),
    resolvedAt: iso(i.resolvedAt),
    silenced,
  };
}

export function transitionJson(t: AlertTransition) {
  return {
    seq: t.seq,
    at: iso(t.at),
    ruleId: t.ruleId,
    fingerprint: t.fingerprint,
    labels: t.labels,
    from: t.from,
    to: t.to,
    value: t.value,
  };
}

/** The live message of one state change (hub channel `alerts`). */
export function liveAlertMessage(alert: ReturnType<typeof alertJson>, from: AlertState) {
  return { type: "alert", alert, from };
}

/** An outbox item as operators see it (the payload is parsed back to JSON). */
export function notificationJson(o: OutboxItem) {
  return {
    id: o.id,
    receiverId: o.receiverId,
    groupKey: o.groupKey,
    status: o.status,
    attempts: o.attempts,
    lastError: o.lastError,
    dueAt: iso(o.dueAt),
    createdAt: iso(o.createdAt),
    updatedAt: iso(o.updatedAt),
    payload: o.payload === null ? null : JSON.parse(o.payload),
  };
}
