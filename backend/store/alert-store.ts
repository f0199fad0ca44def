/**
 * The `AlertStore` port: rules, receivers, silences, alert instances, their
 * history and the notification outbox. Part of `Store` (`store.alerts`);
 * SQLite implements it in `sqlite/sqlite-alerts.ts`; every implementation
 * must pass `alert-store-contract.ts`.
 *
 * Contract:
 * - Documents (rules, receivers, silences, instances, groups) are stored and
 *   returned as given: `save*` inserts or replaces by id.
 * - `applyAlertChanges` is one transaction: instance upserts, appended
 *   transitions and new outbox items commit together or not at all. This is
 *   what makes notification at-least-once: a state change is never durable
 *   without the outbox item that announces it.
 * - At most one `waiting` outbox item exists per (receiverId, groupKey): an
 *   item inserted while one waits is dropped (the waiting one will render
 *   the group's current state when its timer ends).
 * - Transition seqs are assigned by the store, strictly increasing.
 * - Errors are `StoreUnavailableError`, as for `Store`.
 */
import type {
  AlertInstance,
  AlertRule,
  AlertTransition,
  GroupRecord,
  OutboxItem,
  OutboxStatus,
  Receiver,
  Silence,
} from "../alerts/model.ts";

/** What one evaluation (or rule change) makes durable at once. */
export interface AlertChanges {
  instances: readonly AlertInstance[];
  transitions: readonly Omit<AlertTransition, "seq">[];
  outbox: readonly OutboxItem[];
  /** Instances to forget, by (ruleId, fingerprint). */
  deleteInstances?: readonly { ruleId: string; fingerprint: string }[];
  /** Group records to store (inserted or replaced by receiver and key). */
  groups?: readonly GroupRecord[];
}

/** Conditions of `updateOutbox`. */
export interface OutboxUpdateOptions {
  /** Update the item only while its stored status is this one (else nothing is written). */
  onlyIfStatus?: OutboxStatus;
  /**
   * Mark every other `pending` item of the same (receiverId, groupKey) `skipped` (superseded by
   * this one, which carries the group's newer state), in the same transaction.
   */
  supersede?: boolean;
}

export interface TransitionQuery {
  ruleId?: string;
  fingerprint?: string;
  /** Only transitions with a smaller seq (paging backwards). */
  beforeSeq?: number;
  limit: number;
}

export interface OutboxQuery {
  statuses: readonly OutboxStatus[];
  /** Only items due at or before this time. */
  dueBy?: number;
  limit: number;
}

export interface AlertStore {
  listRules(): Promise<AlertRule[]>;
  saveRule(rule: AlertRule): Promise<void>;
  /** Deletes the rule; resolves false if it did not exist. */
  deleteRule(id: string): Promise<boolean>;
  listReceivers(): Promise<Receiver[]>;
  saveReceiver(receiver: Receiver): Promise<void>;
  deleteReceiver(id: string): Promise<boolean>;
  /** Every silence, expired ones included, newest end first. */
  listSilences(): Promise<Silence[]>;
  saveSilence(silence: Silence): Promise<void>;
  /** Every stored instance (at start). */
  loadAlertInstances(): Promise<AlertInstance[]>;
  applyAlertChanges(changes: AlertChanges): Promise<void>;
  /** Transitions newest first (by seq) matching the filters. */
  listAlertTransitions(query: TransitionQuery): Promise<AlertTransition[]>;
  loadAlertGroups(): Promise<GroupRecord[]>;
  /** Outbox items with one of `statuses`, oldest due first. */
  listOutbox(query: OutboxQuery): Promise<OutboxItem[]>;
  /**
   * Stores `item` (its new status, payload, attempts, due time) and, when given, the group's
   * record of what was sent, in one transaction. Resolves false when the item was not updated
   * (`onlyIfStatus` did not match); then nothing was written.
   */
  updateOutbox(item: OutboxItem, group?: GroupRecord, options?: OutboxUpdateOptions): Promise<boolean>;
  /** Number of outbox items per status. */
  outboxCounts(): Promise<Record<OutboxStatus, number>>;
  /**
   * Deletes transitions at or before `before`, and finished outbox items (sent, skipped, dead) last
   * updated at or before it; resolves with how many rows went.
   */
  purgeAlertRecords(before: number): Promise<number>;
}
