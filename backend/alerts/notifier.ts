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
import { webhookAlert, type WebhookPayload, webhookPayload } from "./payload.ts";
import { nextTimerTurn } from "../ingest/macrotask.ts";

export interface NotifierOptions {
  catalog: AlertCatalog;
  store: AlertStore;
  externalURL: string;
  maxAlertsPerNotification: number;
  maxPayloadBytes: number;
  /** A new notification id (`ntf_` + 32 hex digits). */
  newId: () => string;
  /**
   * Instances (and groups) the timer's walk handles before it lets the event loop run; default
   * 2,000. Held by `exclusive`, the walk sees no evaluation commit between its slices.
   */
  sliceSize?: number;
}

/** Default of `NotifierOptions.sliceSize` (a walk of tens of thousands of firing instances is one task otherwise). */
const SLICE_SIZE = 2000;

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
  /** groupId → id of the group's newest rendered (pending) item: older ones are superseded. */
  readonly #latest = new Map<string, string>();
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
    const pending = await this.#o.store.listOutbox({ statuses: ["pending"], limit: 1_000_000 });
    pending.sort((a, b) => a.createdAt - b.createdAt);
    for (const item of pending) this.#latest.set(groupId(item.receiverId, item.groupKey), item.id);
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
    const groups = await this.#groups(now);
    const scheduled: OutboxItem[] = [];
    const cleared: GroupRecord[] = [];
    let walked = 0;
    for (const [id, g] of groups) {
      if (++walked % this.#sliceSize === 0) await nextTimerTurn();
      if (this.#waiting.has(id)) continue;
      const record = this.#records.get(id);
      const content = groupContent(g.members, record);
      if (content.length === 0 && record && Object.keys(record.sent).length) {
        // What the group sent is no longer a member (silenced, routed elsewhere, regrouped): there
        // is nothing to send, so the record forgets it instead of scheduling empty items forever.
        cleared.push({ ...record, sent: {} });
        continue;
      }
      const due = nextDue(g.receiver, content, record, now);
      if (due !== null) scheduled.push(this.#item(g.receiver.id, g.key, due, now));
    }
    if (scheduled.length || cleared.length) {
      await this.#o.store.applyAlertChanges({
        instances: [],
        transitions: [],
        outbox: scheduled,
        groups: cleared,
      });
      this.committed(scheduled);
      for (const rec of cleared) this.#records.set(groupId(rec.receiverId, rec.groupKey), rec);
    }
    for (const [id, item] of this.#waiting) {
      if (item.dueAt > now) continue;
      const receiver = this.#o.catalog.receivers.get(item.receiverId);
      const g = groups.get(id);
      const record = this.#records.get(id);
      const content = g ? groupContent(g.members, record) : [];
      if (!receiver || content.length === 0) {
        const forget = record && Object.keys(record.sent).length ? { ...record, sent: {} } : undefined;
        await this.#o.store.updateOutbox({ ...item, status: "skipped", updatedAt: now }, forget);
        if (forget) this.#records.set(id, forget);
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
      // Older pending items of the group (still retrying) are superseded: the receiver gets the
      // group's states in order, the newest last.
      await this.#o.store.updateOutbox(rendered, next, { supersede: true });
      this.#records.set(id, next);
      this.#latest.set(id, rendered.id);
      this.#waiting.delete(id);
    }
  }

  /**
   * Delivery gave `item` up (status `dead`): stores it and, unless a newer item of its group
   * superseded it, undoes what its render recorded as sent: its firing alerts count as never
   * sent and its resolved ones as still firing at the receiver, so the group's next timer
   * (groupInterval) sends the current state again.
   */
  undelivered(item: OutboxItem): Promise<void> {
    return this.exclusive(async () => {
      const id = groupId(item.receiverId, item.groupKey);
      const record = this.#records.get(id);
      if (this.#latest.get(id) !== item.id || !record || item.payload === null) {
        await this.#o.store.updateOutbox(item, undefined, { onlyIfStatus: "pending" });
        return;
      }
      const sent = { ...record.sent };
      const alerts = (JSON.parse(item.payload) as WebhookPayload).alerts;
      for (const a of alerts) {
        if (a.status === "firing") delete sent[a.fingerprint];
        else sent[a.fingerprint] = "firing";
      }
      const restored: GroupRecord = { ...record, sent };
      if (await this.#o.store.updateOutbox(item, restored, { onlyIfStatus: "pending" })) {
        this.#records.set(id, restored);
      }
      this.#latest.delete(id);
    });
  }

  /** Fingerprints some group last sent firing (their resolved notification is still due). */
  sentFiringFingerprints(): Set<string> {
    return new Set(this.#sentFiring().keys());
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

  get #sliceSize(): number {
    return this.#o.sliceSize ?? SLICE_SIZE;
  }

  /**
   * Every group with its current (unsilenced) members, plus groups that still hold sent alerts.
   * Walks the instances in slices (`sliceSize`), letting the event loop run between them.
   */
  async #groups(now: number): Promise<Map<string, Group>> {
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
    let walked = 0;
    for (const inst of catalog.allInstances()) {
      if (++walked % this.#sliceSize === 0) await nextTimerTurn();
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
