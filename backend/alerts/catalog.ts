/**
 * What the alerting core holds in memory: rules, receivers, silences and alert
 * instances (per rule, by fingerprint). The store holds the same durably; the
 * service and the evaluator change both, store first.
 */
import type { LabelPattern } from "./label-pattern.ts";
import { compileMatcher, matches } from "./labels.ts";
import type { AlertInstance, AlertRule, Receiver, Silence } from "./model.ts";

export class AlertCatalog {
  readonly rules = new Map<string, AlertRule>();
  readonly receivers = new Map<string, Receiver>();
  readonly silences = new Map<string, Silence>();
  /** ruleId → fingerprint → instance. Instances of deleted rules stay until resolved and notified. */
  readonly instances = new Map<string, Map<string, AlertInstance>>();
  #regex = new Map<string, LabelPattern>();

  instancesOf(ruleId: string): Map<string, AlertInstance> {
    let m = this.instances.get(ruleId);
    if (!m) this.instances.set(ruleId, m = new Map());
    return m;
  }

  putInstance(i: AlertInstance): void {
    this.instancesOf(i.ruleId).set(i.fingerprint, i);
  }

  deleteInstance(ruleId: string, fp: string): void {
    const m = this.instances.get(ruleId);
    m?.delete(fp);
    if (m && m.size === 0) this.instances.delete(ruleId);
  }

  *allInstances(): Generator<AlertInstance> {
    for (const m of this.instances.values()) yield* m.values();
  }

  /** The silence that mutes `labels` at `now`, if any. */
  silencedBy(labels: Record<string, string>, now: number): Silence | null {
    for (const s of this.silences.values()) {
      if (s.startsAt > now || s.endsAt <= now) continue;
      if (s.matchers.every((m) => matches(m, labels, m.isRegex ? this.#compiled(m.value, m) : undefined))) {
        return s;
      }
    }
    return null;
  }

  #compiled(key: string, m: Silence["matchers"][number]): LabelPattern {
    let r = this.#regex.get(key);
    if (!r) this.#regex.set(key, r = compileMatcher(m));
    return r;
  }
}
