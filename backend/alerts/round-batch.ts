/**
 * What one slice of an evaluation round changes. The evaluator reads a query
 * shape, runs each of its rules' points through the state machine into the
 * batch, and commits the batch (one transaction with its history rows and
 * outbox items) when its time budget is spent or the round ends; the next
 * slice starts after the event loop had its turn.
 */
import type { AlertCatalog } from "./catalog.ts";
import type { AlertInstance, AlertRule } from "./model.ts";
import { evaluateRule, type InstanceChange, type SeriesLabelCache } from "./rule-eval.ts";
import type { Points } from "./round-reads.ts";

/** How long a resolved instance is kept (Prometheus keeps resolved alerts 15 min), ms. */
export const RESOLVED_RETENTION_MS = 15 * 60_000;

/** What a batch needs besides the rule and its points. */
export interface BatchContext {
  catalog: AlertCatalog;
  maxInstancesPerRule: number;
  /** Evaluation time (resolved instances are pruned against it). */
  now: number;
  /** Fingerprints some group last sent firing: their resolved notification is still due. */
  sentFiring: ReadonlySet<string>;
  onError: (message: string, fields: Record<string, unknown>) => void;
}

export class RoundBatch {
  /** State changes, in evaluation order. */
  readonly changes: InstanceChange[] = [];
  /** Every instance of the batch's rules as it is after the batch (memory takes them after the commit). */
  readonly updated: AlertInstance[] = [];
  /** Instances to write: changed state, new, or changed what a restart needs. */
  readonly persist: AlertInstance[] = [];
  /** Instances to forget. */
  readonly dropped: { ruleId: string; fingerprint: string }[] = [];

  /** Whether the batch holds nothing to write. */
  get empty(): boolean {
    return this.changes.length === 0 && this.persist.length === 0 && this.dropped.length === 0;
  }

  /** Evaluates `rule` at every point of `r`, in order, from its current instances in the catalog. */
  evaluate(rule: AlertRule, r: Points, labels: SeriesLabelCache, ctx: BatchContext): void {
    const before = ctx.catalog.instances.get(rule.id) ?? new Map<string, AlertInstance>();
    const current = new Map(before);
    const changed = new Set<string>();
    r.ends.forEach((at, i) => {
      const ev = evaluateRule(rule, at, r.at(i), current, ctx.maxInstancesPerRule, labels);
      for (const u of ev.updated) current.set(u.fingerprint, u);
      for (const fp of ev.dropped) current.delete(fp);
      for (const c of ev.changes) changed.add(c.instance.fingerprint);
      this.changes.push(...ev.changes);
      if (ev.refused) {
        ctx.onError("alert instances refused: rule holds the most allowed", {
          ruleId: rule.id,
          refused: ev.refused,
        });
      }
    });
    // Resolved instances are forgotten after RESOLVED_RETENTION_MS, once no group still holds
    // them as sent firing (its resolved notification is out).
    for (const [fp, inst] of current) {
      if (
        inst.state === "resolved" && inst.resolvedAt !== null &&
        ctx.now - inst.resolvedAt >= RESOLVED_RETENTION_MS && !ctx.sentFiring.has(fp)
      ) current.delete(fp);
    }
    this.updated.push(...current.values());
    for (const [fp, inst] of current) {
      const old = before.get(fp);
      // Written when the state changed, and when what a restart needs changed without it.
      if (
        changed.has(fp) || !old || old.keepFiringSince !== inst.keepFiringSince ||
        JSON.stringify(old.annotations) !== JSON.stringify(inst.annotations)
      ) this.persist.push(inst);
    }
    for (const fp of before.keys()) {
      if (!current.has(fp)) this.dropped.push({ ruleId: rule.id, fingerprint: fp });
    }
  }
}
