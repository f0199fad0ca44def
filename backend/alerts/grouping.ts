/**
 * Notification grouping, as Alertmanager does it: the alerts routed to a
 * receiver are grouped by the receiver's `groupBy` labels. A group's first
 * notification waits `groupWait` (so alerts firing together arrive together),
 * later ones wait until `groupInterval` after the previous one, and an
 * unchanged group with firing alerts is sent again after `repeatInterval`.
 * Pure: the caller passes time and keeps the records.
 */
import { formatLabels } from "./labels.ts";
import type { AlertInstance, AlertRule, GroupRecord, Receiver } from "./model.ts";

/** The receivers an instance is routed to at `now` (its rule's, plus the escalation one once due). */
export function routesOf(inst: AlertInstance, rule: AlertRule | undefined, now: number): string[] {
  if (!rule) return [];
  const out: string[] = [];
  if (rule.receiver) out.push(rule.receiver);
  const esc = rule.escalation;
  if (esc && inst.firedAt !== null && now - inst.firedAt >= esc.afterMs && !out.includes(esc.receiver)) {
    out.push(esc.receiver);
  }
  return out;
}

/** The group an instance falls in at a receiver: its key and labels. */
export function groupOf(
  receiver: Receiver,
  labels: Record<string, string>,
): { key: string; labels: Record<string, string> } {
  const groupLabels: Record<string, string> = {};
  for (const name of receiver.groupBy) if (labels[name] !== undefined) groupLabels[name] = labels[name];
  return { key: `{}/${receiver.id}:${formatLabels(groupLabels)}`, labels: groupLabels };
}

/** What a group would send now: firing members, and members resolved since they were sent firing. */
export function groupContent(
  members: readonly AlertInstance[],
  record: GroupRecord | undefined,
): AlertInstance[] {
  const sent = record?.sent ?? {};
  return members.filter((m) =>
    m.state === "firing" || (m.state === "resolved" && sent[m.fingerprint] === "firing")
  );
}

/** Whether `content` differs from what the group last sent. */
export function groupChanged(content: readonly AlertInstance[], record: GroupRecord | undefined): boolean {
  const sent = record?.sent ?? {};
  return content.some((m) => sent[m.fingerprint] !== m.state) ||
    Object.entries(sent).some(([fp, s]) => s === "firing" && !content.some((m) => m.fingerprint === fp));
}

/**
 * When a group's next notification should be sent, seen at `now`, or null when none is needed:
 * a changed group `groupWait` from now when it never sent, else `groupInterval` after its last
 * notification (at the earliest now); an unchanged group with firing alerts once `repeatInterval`
 * has passed since its last notification.
 */
export function nextDue(
  receiver: Receiver,
  content: readonly AlertInstance[],
  record: GroupRecord | undefined,
  now: number,
): number | null {
  const last = record?.lastSentAt ?? null;
  if (groupChanged(content, record)) {
    return last === null ? now + receiver.groupWaitMs : Math.max(now, last + receiver.groupIntervalMs);
  }
  if (last !== null && content.some((m) => m.state === "firing") && last + receiver.repeatIntervalMs <= now) {
    return now;
  }
  return null;
}

/** The group record after sending `content` at `at`: resolved alerts leave it. */
export function afterSend(
  receiver: Receiver,
  key: string,
  groupLabels: Record<string, string>,
  content: readonly AlertInstance[],
  at: number,
): GroupRecord {
  const sent: GroupRecord["sent"] = {};
  for (const m of content) if (m.state === "firing") sent[m.fingerprint] = "firing";
  return { receiverId: receiver.id, groupKey: key, groupLabels, sent, lastSentAt: at };
}
