/**
 * What the alerting core holds in memory: rules, receivers, silences and alert
 * instances (per rule, by fingerprint). The store holds the same durably; the
 * service and the evaluator change both, store first.
 */
import type { LabelPattern } from "./label-pattern.ts";
import { compileMatcher, matches } from "./labels.ts";
import type { AlertInstance, AlertRule, Receiver, Silence } from "./model.ts";

/** A cached answer of `silencedBy` for one label set. */
interface SilenceAnswer {
  /** `#epoch` when it was computed: the silences (and which of them were active) it saw. */
  epoch: number;
  silence: Silence | null;
}

export class AlertCatalog {
  readonly rules = new Map<string, AlertRule>();
  readonly receivers = new Map<string, Receiver>();
  readonly #silences = new Map<string, Silence>();
  /** ruleId → fingerprint → instance. Instances of deleted rules stay until resolved and notified. */
  readonly instances = new Map<string, Map<string, AlertInstance>>();
  #regex = new Map<string, LabelPattern>();
  readonly #answers = new WeakMap<Record<string, string>, SilenceAnswer>();
  #epoch = 0;
  #epochFrom = Infinity;
  #epochUntil = -Infinity;
  #active: Silence[] = [];

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

  /** Silences by id (change them through `putSilence`, which keeps the matching cache exact). */
  get silences(): ReadonlyMap<string, Silence> {
    return this.#silences;
  }

  /** Adds or replaces a silence (an expired one keeps its place in the order). */
  putSilence(silence: Silence): void {
    this.#silences.set(silence.id, silence);
    this.#epochUntil = -Infinity;
  }

  /**
   * The silence that mutes `labels` at `now`, if any: the first active one (in the order they were
   * added) whose matchers all accept the labels. Answers are cached per label set (by the labels
   * object, which an instance keeps for its life) until the silences change or `now` crosses a
   * silence's start or end, so matching runs once per label set and change, not at every call.
   */
  silencedBy(labels: Record<string, string>, now: number): Silence | null {
    if (now < this.#epochFrom || now >= this.#epochUntil) this.#newEpoch(now);
    const cached = this.#answers.get(labels);
    if (cached?.epoch === this.#epoch) return cached.silence;
    let silence: Silence | null = null;
    for (const s of this.#active) {
      if (s.matchers.every((m) => matches(m, labels, m.isRegex ? this.#compiled(m.value, m) : undefined))) {
        silence = s;
        break;
      }
    }
    this.#answers.set(labels, { epoch: this.#epoch, silence });
    return silence;
  }

  /** The silences active at `now` and the span of time in which that set stays the same. */
  #newEpoch(now: number): void {
    this.#epoch++;
    this.#active = [];
    let from = -Infinity;
    let until = Infinity;
    for (const s of this.#silences.values()) {
      for (const edge of [s.startsAt, s.endsAt]) {
        if (edge <= now) from = Math.max(from, edge);
        else until = Math.min(until, edge);
      }
      if (s.startsAt <= now && now < s.endsAt) this.#active.push(s);
    }
    this.#epochFrom = from;
    this.#epochUntil = until;
  }

  #compiled(key: string, m: Silence["matchers"][number]): LabelPattern {
    let r = this.#regex.get(key);
    if (!r) this.#regex.set(key, r = compileMatcher(m));
    return r;
  }
}
