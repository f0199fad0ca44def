/**
 * From alert states to outbox items. A state change writes a `waiting` item
 * for each group it affects in the same transaction as the change
 * (`itemsFor`); the timer (`tick`) schedules items that no change causes
 * (repeat interval, escalation, expired silences) and, when a waiting item's
 * group timer ends, renders the group's current content into the item's
 * payload (status `pending`, picked up by delivery) together with the group's
 * record of what was sent, in one transaction.
 */
import type { AlertStore } from "../store/alert-store.ts";
import type { AlertCatalog } from "./catalog.ts";
import { afterSend, groupContent, groupOf, nextDue, routesOf } from "./grouping.ts";
import type { AlertInstance, GroupRecord, OutboxItem, Receiver } from "./model.ts";
import { webhookAlert, webhookPayload } from "./payload.ts";

export interface NotifierOptions {
  catalog: AlertCatalog;
  store: AlertStore;
  externalURL: string;
  maxAlertsPerNotification: number;
  maxPayloadBytes: number;
  /** A new notification id (`ntf_` + 32 hex digits). */
  newId: () => string;
}

interface Group {
  receiver: Receiver;
  key: string;
  labels: Record<string, string>;
  members: AlertInstance[];
}

const groupId = (receiverId: string, key: string) => `${receiverId}\u0000${key}`;

export class Notifier {
  readonly #o: NotifierOptions;
  readonly #records = new Map<string, GroupRecord>();
  readonly #waiting = new Map<string, OutboxItem>();
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: NotifierOptions) {
    this.#o = options;
  }

  /** Restores group records and waiting items (at start). */
  async load(): Promise<void> {
    for (const g of await this.#o.store.loadAlertGroups()) {
      this.#records.set(groupId(g.receiverId, g.groupKey), g);
    }
    for (const item of await this.#o.store.listOutbox({ statuses: ["waiting"], limit: 1_000_000 })) {
      this.#waiting.set(groupId(item.receiverId, item.groupKey), item);
    }
  }

  /** Waiting items announcing `changed` (new firing or resolved instances) to their groups, at `now`. */
  itemsFor(changed: readonly AlertInstance[], now: number): OutboxItem[] {
    const out = new Map<string, OutboxItem>();
    const sentTo = this.#sentFiring();
    for (const inst of changed) {
      if (inst.state !== "firing" && inst.state !== "resolved") continue;
      if (this.#o.catalog.silencedBy(inst.labels, now)) continue;
      for (const receiverId of this.#routesOf(inst, now, sentTo)) {
        const receiver = this.#o.catalog.receivers.get(receiverId);
        if (!receiver) continue;
        const { key } = groupOf(receiver, inst.labels);
        const id = groupId(receiverId, key);
        if (this.#waiting.has(id) || out.has(id)) continue;
        const last = this.#records.get(id)?.lastSentAt ?? null;
        const dueAt = last === null
          ? now + receiver.groupWaitMs
          : Math.max(now, last + receiver.groupIntervalMs);
        out.set(id, this.#item(receiverId, key, dueAt, now));
      }
    }
    return [...out.values()];
  }

  /** Items of `itemsFor` are durable: remember them as waiting. */
  committed(items: readonly OutboxItem[]): void {
    for (const item of items) {
      const id = groupId(item.receiverId, item.groupKey);
      if (!this.#waiting.has(id)) this.#waiting.set(id, item);
    }
  }

  /**
   * Runs `fn` alone among the notifier's writers: evaluation commits (`itemsFor` … `committed`)
   * and `tick`, so the waiting items in memory always mirror the store's.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
  }

  /** Schedules what is due and renders waiting items whose timer ended. */
  tick(now: number): Promise<void> {
    return this.exclusive(() => this.#tick(now));
  }

  async #tick(now: number): Promise<void> {
    const groups = this.#groups(now);
    const scheduled: OutboxItem[] = [];
    for (const [id, g] of groups) {
      if (this.#waiting.has(id)) continue;
      const content = groupContent(g.members, this.#records.get(id));
      const due = nextDue(g.receiver, content, this.#records.get(id), now);
      if (due !== null) scheduled.push(this.#item(g.receiver.id, g.key, due, now));
    }
    if (scheduled.length) {
      await this.#o.store.applyAlertChanges({ instances: [], transitions: [], outbox: scheduled });
      this.committed(scheduled);
    }
    for (const [id, item] of this.#waiting) {
      if (item.dueAt > now) continue;
      const receiver = this.#o.catalog.receivers.get(item.receiverId);
      const g = groups.get(id);
      const record = this.#records.get(id);
      const content = g ? groupContent(g.members, record) : [];
      if (!receiver || content.length === 0) {
        await this.#o.store.updateOutbox({ ...item, status: "skipped", updatedAt: now });
        this.#waiting.delete(id);
        continue;
      }
      const payload = webhookPayload({
        groupKey: item.groupKey,
        receiver: receiver.name,
        groupLabels: g!.labels,
        externalURL: this.#o.externalURL,
        alerts: content.map((m) => webhookAlert(m, this.#o.externalURL)),
        maxAlerts: this.#o.maxAlertsPerNotification,
        maxBytes: this.#o.maxPayloadBytes,
      });
      const next = afterSend(receiver, item.groupKey, g!.labels, content, now);
      const rendered: OutboxItem = {
        ...item,
        status: "pending",
        payload: JSON.stringify(payload),
        dueAt: now,
        updatedAt: now,
      };
      await this.#o.store.updateOutbox(rendered, next);
      this.#records.set(id, next);
      this.#waiting.delete(id);
    }
  }

  /** Number of items waiting for their group timer. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Where an instance goes: a firing one to its rule's routes; a resolved one only to the
   * receivers that were sent it firing (they hear it resolved, once; nobody else needs to).
   */
  #routesOf(inst: AlertInstance, now: number, sentTo: Map<string, string[]>): string[] {
    if (inst.state === "resolved") return sentTo.get(inst.fingerprint) ?? [];
    return routesOf(inst, this.#o.catalog.rules.get(inst.ruleId), now);
  }

  /** fingerprint → receivers whose group last sent it firing. */
  #sentFiring(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const rec of this.#records.values()) {
      for (const [fp, status] of Object.entries(rec.sent)) {
        if (status !== "firing") continue;
        const list = out.get(fp);
        if (list) list.push(rec.receiverId);
        else out.set(fp, [rec.receiverId]);
      }
    }
    return out;
  }

  /** Every group with its current (unsilenced) members, plus groups that still hold sent alerts. */
  #groups(now: number): Map<string, Group> {
    const groups = new Map<string, Group>();
    const { catalog } = this.#o;
    const join = (
      receiver: Receiver,
      inst: AlertInstance | null,
      labels: Record<string, string>,
      key?: string,
    ) => {
      const g0 = key === undefined ? groupOf(receiver, labels) : { key, labels };
      const id = groupId(receiver.id, g0.key);
      let g = groups.get(id);
      if (!g) groups.set(id, g = { receiver, key: g0.key, labels: g0.labels, members: [] });
      if (inst) g.members.push(inst);
    };
    const sentTo = this.#sentFiring();
    for (const inst of catalog.allInstances()) {
      if (inst.state !== "firing" && (inst.state !== "resolved" || !sentTo.has(inst.fingerprint))) continue;
      if (catalog.silencedBy(inst.labels, now)) continue;
      for (const receiverId of this.#routesOf(inst, now, sentTo)) {
        const receiver = catalog.receivers.get(receiverId);
        if (receiver) join(receiver, inst, inst.labels);
      }
    }
    for (const rec of this.#records.values()) {
      const receiver = catalog.receivers.get(rec.receiverId);
      if (receiver && Object.keys(rec.sent).length) join(receiver, null, rec.groupLabels, rec.groupKey);
    }
    return groups;
  }

  #item(receiverId: string, groupKey: string, dueAt: number, now: number): OutboxItem {
    return {
      id: this.#o.newId(),
      receiverId,
      groupKey,
      status: "waiting",
      payload: null,
      dueAt,
      attempts: 0,
      lastError: null,
      createdAt: now,
      updatedAt: now,
    };
  }
}
