/**
 * Administration of rules, receivers and silences, and the read side (alerts,
 * history). Every write is validated, bounded, stored, applied to the live
 * catalog and evaluator, and audited (`alert_rule.created`, …) in the audit
 * log with the caller's key id and address.
 */
import type { Clock } from "../clock.ts";
import { ConflictError, NotFoundError, ValidationError } from "../errors.ts";
import type { Store } from "../store/store.ts";
import type { AlertCatalog } from "./catalog.ts";
import type { AlertEvaluator } from "./evaluator.ts";
import type { AlertLimits } from "./limits.ts";
import type { AlertRule, AlertTransition, Receiver, Silence } from "./model.ts";
import type { Network } from "./webhook-address.ts";
import type { HostAllowList } from "./webhook-hosts.ts";
import { type InputBounds, validateReceiver, validateRule, validateSilence } from "./validate-input.ts";

/** Who made a change, for the audit log. */
export interface Actor {
  id: string;
  address: string | null;
}

export interface AlertServiceOptions {
  catalog: AlertCatalog;
  store: Store;
  evaluator: AlertEvaluator;
  clock: Clock;
  limits: AlertLimits;
  bounds: InputBounds;
  /** Hosts receivers may point at; null: any. */
  allowedHosts: HostAllowList;
  /** Denied address ranges receivers may still point at (ALERTS_WEBHOOK_ALLOWED_NETWORKS). */
  allowedNetworks: readonly Network[];
  /** A random id with `prefix` (`rul_`, `rcv_`, `sil_`). */
  newId: (prefix: string) => string;
}

// Audit entries hold a webhook's origin only: its path or query often carries a token.

export class AlertService {
  readonly #o: AlertServiceOptions;

  constructor(options: AlertServiceOptions) {
    this.#o = options;
  }

  get catalog(): AlertCatalog {
    return this.#o.catalog;
  }

  /** Validates a rule body (receivers must exist); throws ValidationError. */
  parseRule(body: unknown, field = ""): Omit<AlertRule, "id" | "createdAt" | "updatedAt"> {
    const result = validateRule(body, this.#o.bounds);
    const prefix = (errors: { field: string; message: string }[]) =>
      field ? errors.map((e) => ({ ...e, field: `${field}.${e.field}` })) : errors;
    if (Array.isArray(result)) throw new ValidationError("Invalid alert rule", prefix(result));
    const errors = [];
    const { receivers } = this.#o.catalog;
    if (result.receiver !== null && !receivers.has(result.receiver)) {
      errors.push({ field: "receiver", message: `unknown receiver ${result.receiver}` });
    }
    if (result.escalation && !receivers.has(result.escalation.receiver)) {
      errors.push({
        field: "escalation.receiver",
        message: `unknown receiver ${result.escalation.receiver}`,
      });
    }
    if (errors.length) throw new ValidationError("Invalid alert rule", prefix(errors));
    return result;
  }

  listRules(): AlertRule[] {
    return [...this.#o.catalog.rules.values()];
  }

  getRule(id: string): AlertRule {
    const rule = this.#o.catalog.rules.get(id);
    if (!rule) throw new NotFoundError(`No alert rule ${id}`);
    return rule;
  }

  async createRule(body: unknown, actor: Actor): Promise<AlertRule> {
    const input = this.parseRule(body);
    if (this.#o.catalog.rules.size >= this.#o.limits.maxRules) {
      throw new ConflictError(`At most ${this.#o.limits.maxRules} alert rules; delete one first`, "rules");
    }
    const now = this.#o.clock.now();
    const rule: AlertRule = { id: this.#o.newId("rul_"), ...input, createdAt: now, updatedAt: now };
    await this.#o.store.alerts.saveRule(rule);
    this.#o.catalog.rules.set(rule.id, rule);
    this.#o.evaluator.setRule(rule);
    await this.#audit(actor, "alert_rule.created", rule.id, { name: rule.name });
    return rule;
  }

  async replaceRule(id: string, body: unknown, actor: Actor): Promise<AlertRule> {
    const old = this.getRule(id);
    const input = this.parseRule(body);
    const rule: AlertRule = { id, ...input, createdAt: old.createdAt, updatedAt: this.#o.clock.now() };
    await this.#o.store.alerts.saveRule(rule);
    this.#o.catalog.rules.set(id, rule);
    this.#o.evaluator.removeRule(id);
    if (!rule.enabled) await this.#o.evaluator.resolveAll(id, this.#o.clock.now());
    this.#o.evaluator.setRule(rule);
    await this.#audit(actor, "alert_rule.updated", id, { name: rule.name });
    return rule;
  }

  async deleteRule(id: string, actor: Actor): Promise<void> {
    const rule = this.getRule(id);
    this.#o.evaluator.removeRule(id);
    // Firing alerts of the rule resolve (and are notified as resolved) before it goes.
    await this.#o.evaluator.resolveAll(id, this.#o.clock.now());
    await this.#o.store.alerts.deleteRule(id);
    this.#o.catalog.rules.delete(id);
    await this.#audit(actor, "alert_rule.deleted", id, { name: rule.name });
  }

  listReceivers(): Receiver[] {
    return [...this.#o.catalog.receivers.values()];
  }

  async createReceiver(body: unknown, actor: Actor): Promise<Receiver> {
    const input = this.#parseReceiver(body);
    if (this.#o.catalog.receivers.size >= this.#o.limits.maxReceivers) {
      throw new ConflictError(
        `At most ${this.#o.limits.maxReceivers} receivers; delete one first`,
        "receivers",
      );
    }
    const now = this.#o.clock.now();
    const receiver: Receiver = { id: this.#o.newId("rcv_"), ...input, createdAt: now, updatedAt: now };
    await this.#o.store.alerts.saveReceiver(receiver);
    this.#o.catalog.receivers.set(receiver.id, receiver);
    await this.#audit(actor, "alert_receiver.created", receiver.id, {
      name: receiver.name,
      url: new URL(receiver.url).origin,
    });
    return receiver;
  }

  async replaceReceiver(id: string, body: unknown, actor: Actor): Promise<Receiver> {
    const old = this.#o.catalog.receivers.get(id);
    if (!old) throw new NotFoundError(`No receiver ${id}`);
    const input = this.#parseReceiver(body);
    const receiver: Receiver = { id, ...input, createdAt: old.createdAt, updatedAt: this.#o.clock.now() };
    await this.#o.store.alerts.saveReceiver(receiver);
    this.#o.catalog.receivers.set(id, receiver);
    await this.#audit(actor, "alert_receiver.updated", id, {
      name: receiver.name,
      url: new URL(receiver.url).origin,
    });
    return receiver;
  }

  async deleteReceiver(id: string, actor: Actor): Promise<void> {
    const receiver = this.#o.catalog.receivers.get(id);
    if (!receiver) throw new NotFoundError(`No receiver ${id}`);
    const users = this.listRules().filter((r) => r.receiver === id || r.escalation?.receiver === id);
    if (users.length) {
      throw new ConflictError(
        `Receiver ${id} is used by ${users.length} rule(s): ${users.slice(0, 5).map((r) => r.id).join(", ")}`,
        "receiver",
      );
    }
    await this.#o.store.alerts.deleteReceiver(id);
    this.#o.catalog.receivers.delete(id);
    await this.#audit(actor, "alert_receiver.deleted", id, { name: receiver.name });
  }

  listSilences(): Silence[] {
    return [...this.#o.catalog.silences.values()].sort((a, b) =>
      b.endsAt - a.endsAt || (a.id < b.id ? -1 : 1)
    );
  }

  async createSilence(body: unknown, actor: Actor): Promise<Silence> {
    const now = this.#o.clock.now();
    const input = validateSilence(body, now, this.#o.limits.maxLabels);
    if (Array.isArray(input)) throw new ValidationError("Invalid silence", input);
    const active = this.listSilences().filter((s) => s.endsAt > now).length;
    if (active >= this.#o.limits.maxSilences) {
      throw new ConflictError(`At most ${this.#o.limits.maxSilences} unexpired silences`, "silences");
    }
    const silence: Silence = { id: this.#o.newId("sil_"), ...input, createdBy: actor.id };
    await this.#o.store.alerts.saveSilence(silence);
    this.#o.catalog.putSilence(silence);
    await this.#audit(actor, "alert_silence.created", silence.id, { matchers: silence.matchers });
    return silence;
  }

  /** Expires a silence now (a silence already expired stays as it is). */
  async expireSilence(id: string, actor: Actor): Promise<void> {
    const silence = this.#o.catalog.silences.get(id);
    if (!silence) throw new NotFoundError(`No silence ${id}`);
    const now = this.#o.clock.now();
    if (silence.endsAt <= now) return;
    const expired: Silence = { ...silence, endsAt: now, startsAt: Math.min(silence.startsAt, now) };
    await this.#o.store.alerts.saveSilence(expired);
    this.#o.catalog.putSilence(expired);
    await this.#audit(actor, "alert_silence.expired", id, null);
  }

  /** State changes, newest first; `next` is the cursor of the following page. */
  async history(q: { ruleId?: string; fingerprint?: string; limit: number; beforeSeq?: number }): Promise<
    { history: AlertTransition[]; next: string | null }
  > {
    const rows = await this.#o.store.alerts.listAlertTransitions({ ...q, limit: q.limit + 1 });
    const page = rows.slice(0, q.limit);
    return { history: page, next: rows.length > q.limit ? String(page[page.length - 1].seq) : null };
  }

  #parseReceiver(body: unknown) {
    const input = validateReceiver(body, this.#o.allowedHosts, this.#o.allowedNetworks);
    if (Array.isArray(input)) throw new ValidationError("Invalid receiver", input);
    return input;
  }

  async #audit(
    actor: Actor,
    action: string,
    target: string,
    details: Record<string, unknown> | null,
  ): Promise<void> {
    await this.#o.store.appendAudit({
      at: this.#o.clock.now(),
      actor: actor.id,
      action,
      target,
      address: actor.address,
      details,
    });
  }
}
