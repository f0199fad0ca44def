/**
 * Live rule evaluation. Rules are indexed by event type and evaluation step
 * (the largest stream resolution dividing the rule's window), so a closed
 * window on the bus costs one map lookup and touches only the rules that read
 * it. A threshold rule is evaluated when the all-device window of its step
 * closes, over the window of its length ending there (read through the
 * metrics service, one query per distinct query shape in a round). The timer
 * evaluates nodata and system rules, and threshold rules whose window saw no
 * event (no window closes then).
 *
 * A round's state changes, their transitions and the outbox items that
 * announce them are written in one transaction before memory, live
 * subscribers and delivery see them.
 */
import type { Clock } from "../clock.ts";
import type { AlertStore } from "../store/alert-store.ts";
import type { WindowMessage } from "../stream/windows.ts";
import type { AlertCatalog } from "./catalog.ts";
import type { AlertDataSource } from "./data-source.ts";
import type { AlertInstance, AlertRule } from "./model.ts";
import type { Notifier } from "./notifier.ts";
import { nextTimerTurn } from "../ingest/macrotask.ts";
import type { InstanceChange, SeriesLabelCache } from "./rule-eval.ts";
import { type BatchContext, RoundBatch } from "./round-batch.ts";
import { planRound, type Points, readShape } from "./round-reads.ts";
import { floorTo, scheduleFor } from "./schedule.ts";
import type { SystemSampler } from "./system-sampler.ts";

export interface EvaluatorOptions {
  catalog: AlertCatalog;
  store: AlertStore;
  source: AlertDataSource;
  system: SystemSampler;
  notifier: Notifier;
  clock: Clock;
  /** Stream resolutions, ascending. */
  resolutions: readonly number[];
  /** The smallest stored resolution (finer ones are live only), ms. */
  storedMinResolutionMs: number;
  /** How long after its end a window has surely closed (lateness + idle + timer period), ms. */
  closeDelayMs: number;
  maxInstancesPerRule: number;
  /** Most series one metrics query returns (a page of a per-device read). */
  pageSize: number;
  /** Most series one rule reads (groupBy device); beyond, the rule's status says `truncated`. */
  maxSeriesPerRule: number;
  /** Longest a round holds the event loop before it commits what it has and yields, ms. */
  sliceMs: number;
  /**
   * Most state changes, and most instance rows, one slice commits (one transaction: what an ingest
   * commit may wait behind).
   */
  sliceChanges: number;
  /**
   * Pause after a slice that wrote to the store, in percent of the slice's time (evaluation and
   * commit): during a storm of state changes the round leaves the loop and the shared writer free
   * for ingest that share of the time (0: only a timer turn).
   */
  writePausePct: number;
  /** Receives each state change (live subscribers). */
  onChange: (change: InstanceChange) => void;
  onError: (message: string, fields: Record<string, unknown>) => void;
}

interface Scheduled {
  rule: AlertRule;
  /** Labels and fingerprints of the rule's series (rebuilt when the rule changes). */
  labels: SeriesLabelCache;
  stepMs: number;
  /** What its reads are bucketed by (schedule.ts). */
  bucketMs: number;
  /** Window end of the last evaluation. */
  lastEnd: number;
}

/** What the last evaluation of a rule read (`GET /v1/alerts/rules`' `status`). */
export interface RuleStatus {
  /** Evaluation step, ms (schedule.ts). */
  stepMs: number;
  /** Window end of the last evaluation, ms (null: none yet). */
  lastEvaluatedAt: number | null;
  /** Series read by the last evaluation. */
  series: number;
  /** More series matched than ALERTS_MAX_SERIES_PER_RULE: those beyond were not evaluated. */
  truncated: boolean;
}

/** A rule due in a round: evaluated at every step end from `first` to `end`. */
interface Work {
  s: Scheduled;
  first: number;
  end: number;
}

/** Most missed steps a rule catches up on in one round. */
const MAX_CATCH_UP_STEPS = 60;

export class AlertEvaluator {
  readonly #o: EvaluatorOptions;
  readonly #scheduled = new Map<string, Scheduled>();
  /** eventType → step → rule ids. */
  readonly #index = new Map<string, Map<number, Set<string>>>();
  readonly #due = new Map<string, number>();
  readonly #status = new Map<string, RuleStatus>();
  #running: Promise<void> | null = null;
  #again = false;
  #closed = false;
  /** Duration and size of the last round. */
  lastRound = { at: 0, durationMs: 0, rules: 0, queries: 0 };
  /** Slices run since start (each ends with a commit and a turn of the event loop). */
  slices = 0;

  constructor(options: EvaluatorOptions) {
    this.#o = options;
  }

  /** Starts (or restarts) evaluating `rule` from the current time. */
  setRule(rule: AlertRule): void {
    this.removeRule(rule.id);
    if (!rule.enabled) return;
    const { stepMs, bucketMs } = scheduleFor(rule, this.#o.resolutions, this.#o.storedMinResolutionMs);
    const lastEnd = floorTo(this.#o.clock.now() - this.#o.closeDelayMs, stepMs);
    this.#scheduled.set(rule.id, { rule, stepMs, bucketMs, lastEnd, labels: new Map() });
    this.#status.set(rule.id, { stepMs, lastEvaluatedAt: null, series: 0, truncated: false });
    if (rule.kind === "threshold") {
      let bySteps = this.#index.get(rule.eventType!);
      if (!bySteps) this.#index.set(rule.eventType!, bySteps = new Map());
      let ids = bySteps.get(stepMs);
      if (!ids) bySteps.set(stepMs, ids = new Set());
      ids.add(rule.id);
    }
  }

  /** Stops evaluating a rule (its instances are the caller's to resolve). */
  removeRule(id: string): void {
    const s = this.#scheduled.get(id);
    if (!s) return;
    this.#scheduled.delete(id);
    this.#due.delete(id);
    this.#status.delete(id);
    if (s.rule.kind === "threshold") {
      const bySteps = this.#index.get(s.rule.eventType!);
      bySteps?.get(s.stepMs)?.delete(id);
    }
  }

  /** Bus subscriber: a closed all-device window makes the rules reading it due. */
  onWindow(m: WindowMessage): void {
    if (m.kind !== "window" || !m.final || m.deviceId !== null) return;
    const ids = this.#index.get(m.eventType)?.get(m.resolution);
    if (!ids || ids.size === 0) return;
    for (const id of ids) {
      const s = this.#scheduled.get(id)!;
      if (m.end > s.lastEnd && m.end > (this.#due.get(id) ?? -Infinity)) this.#due.set(id, m.end);
    }
    this.#kick();
  }

  /** Timer: nodata and system rules, and threshold rules no closed window announced. */
  tick(): Promise<void> {
    const now = this.#o.clock.now();
    this.#o.system.sample(now);
    for (const [id, s] of this.#scheduled) {
      const end = s.rule.kind === "system"
        ? floorTo(now, s.stepMs)
        : floorTo(now - this.#o.closeDelayMs, s.stepMs);
      if (end > s.lastEnd && !this.#due.has(id)) this.#due.set(id, end);
    }
    return this.#kick();
  }

  /** What the last evaluation of a rule read; null for a rule not evaluated (disabled, unknown). */
  status(ruleId: string): RuleStatus | null {
    return this.#status.get(ruleId) ?? null;
  }

  /** Rules whose last evaluation left series out (ALERTS_MAX_SERIES_PER_RULE). */
  get truncatedRules(): number {
    let n = 0;
    for (const s of this.#status.values()) if (s.truncated) n++;
    return n;
  }

  /** Resolves when no round is running or due. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  close(): void {
    this.#closed = true;
  }

  #kick(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      // Let the engine finish publishing this tick's closed windows: they make one round.
      await null;
      try {
        do {
          this.#again = false;
          try {
            await this.#round();
          } catch (error) {
            // The store refused the round's changes: memory was not changed, and these windows are
            // evaluated again (the timer finds their rules behind).
            this.#o.onError("alert evaluation round failed", {
              error: error instanceof Error ? error.message : String(error),
            });
            break;
          }
        } while ((this.#again || this.#due.size > 0) && !this.#closed);
      } finally {
        this.#running = null;
      }
    })();
    return this.#running;
  }

  async #round(): Promise<void> {
    if (this.#due.size === 0) return;
    const started = performance.now();
    const due = [...this.#due];
    this.#due.clear();
    const work: Work[] = [];
    for (const [id, end] of due) {
      const s = this.#scheduled.get(id);
      if (!s || end <= s.lastEnd) continue;
      // Every step since the last evaluation is evaluated in order (a slow tick can close several
      // windows at once), so `for` is measured exactly; at most MAX_CATCH_UP_STEPS of them.
      const first = s.rule.kind === "system"
        ? end
        : Math.max(s.lastEnd + s.stepMs, end - (MAX_CATCH_UP_STEPS - 1) * s.stepMs);
      work.push({ s, first, end });
    }
    const bySchedule = new Map(work.map((w) => [w.s.rule, w]));
    const plan = planRound(
      work.map(({ s, first, end }) => ({ rule: s.rule, schedule: s, first, end })),
      this.#o,
    );
    // The round runs in slices of about `sliceMs` (one query or one rule can exceed it) or
    // `sliceChanges` state changes or instance rows to write (one rule can exceed it): at the end of
    // a slice its changes are committed and the event loop takes its turn (ingest, requests) before
    // the next slice, so a round of thousands of rules never holds the loop for long. A shape's
    // columns stay held until its last rule is evaluated.
    let batch = new RoundBatch();
    let evaluated: { w: Work; r: Points }[] = [];
    let sliceStarted = performance.now();
    let context = this.#context();
    for (const read of plan) {
      const points = await readShape(read, this.#o);
      for (const { rule } of read.rules) {
        const w = bySchedule.get(rule)!;
        const r = points?.get(rule.id);
        // A rule deleted, disabled or replaced while its values were read is not evaluated: its
        // instances were resolved (or will be, after this round) and must not come back.
        if (!r || this.#scheduled.get(rule.id) !== w.s) continue;
        batch.evaluate(rule, r, w.s.labels, context);
        evaluated.push({ w, r });
        if (
          performance.now() - sliceStarted >= this.#o.sliceMs ||
          batch.changes.length >= this.#o.sliceChanges ||
          batch.persist.length >= this.#o.sliceChanges
        ) {
          const wrote = !batch.empty;
          await this.#commitBatch(batch, evaluated);
          batch = new RoundBatch();
          evaluated = [];
          this.slices++;
          const pause = wrote ? (performance.now() - sliceStarted) * this.#o.writePausePct / 100 : 0;
          await (pause >= 1 ? new Promise((r) => setTimeout(r, pause)) : nextTimerTurn());
          sliceStarted = performance.now();
          context = this.#context();
        }
      }
    }
    await this.#commitBatch(batch, evaluated);
    this.slices++;
    this.lastRound = {
      at: this.#o.clock.now(),
      durationMs: performance.now() - started,
      rules: work.length,
      queries: plan.filter((p) => p.query !== null).length,
    };
  }

  #context(): BatchContext {
    return {
      catalog: this.#o.catalog,
      maxInstancesPerRule: this.#o.maxInstancesPerRule,
      now: this.#o.clock.now(),
      sentFiring: this.#o.notifier.sentFiringFingerprints(),
      onError: this.#o.onError,
    };
  }

  /**
   * Commits a slice's changes, then moves its rules on. A rule whose read failed (logged) was not
   * evaluated and stays behind: the timer makes it due again for the same window.
   */
  async #commitBatch(batch: RoundBatch, evaluated: { w: Work; r: Points }[]): Promise<void> {
    if (evaluated.length === 0) return;
    await this.#commit(batch.changes, batch.updated, batch.persist, batch.dropped, this.#o.clock.now());
    for (const { w, r } of evaluated) {
      w.s.lastEnd = Math.max(w.s.lastEnd, w.end);
      this.#noteRead(w.s, r, w.end);
    }
  }

  /** Keeps what a rule's evaluation read for its status; warns when it starts leaving series out. */
  #noteRead(s: Scheduled, r: Points, end: number): void {
    const previous = this.#status.get(s.rule.id);
    const series = r.ends.length ? r.series : 0;
    this.#status.set(s.rule.id, {
      stepMs: s.stepMs,
      lastEvaluatedAt: r.ends.at(-1) ?? end,
      series,
      truncated: r.truncated,
    });
    if (r.truncated && !previous?.truncated) {
      this.#o.onError(
        "alert rule reads only its first series: more devices than ALERTS_MAX_SERIES_PER_RULE",
        {
          ruleId: s.rule.id,
          series,
        },
      );
    }
    // The label cache holds every device the rule saw; devices come and go, so it is bounded.
    if (s.labels.size > 2 * this.#o.maxSeriesPerRule) s.labels.clear();
  }

  /** Writes a set of changes (store first), then updates memory and tells subscribers. */
  async #commit(
    changes: InstanceChange[],
    updated: AlertInstance[],
    persist: AlertInstance[],
    dropped: { ruleId: string; fingerprint: string }[],
    now: number,
  ): Promise<void> {
    const { catalog, notifier } = this.#o;
    // Store and memory change together, before the notifier's timer can look at either.
    await notifier.exclusive(async () => {
      if (changes.length || dropped.length || persist.length) {
        await this.#write(changes, persist, dropped, now);
      }
      for (const i of updated) catalog.putInstance(i);
      for (const d of dropped) catalog.deleteInstance(d.ruleId, d.fingerprint);
    });
    for (const c of changes) this.#o.onChange(c);
  }

  /** The store transaction of one set of changes, with the outbox items that announce them. */
  async #write(
    changes: InstanceChange[],
    persist: AlertInstance[],
    dropped: { ruleId: string; fingerprint: string }[],
    now: number,
  ) {
    const { notifier, store } = this.#o;
    const outbox = notifier.itemsFor(changes.map((c) => c.instance), now);
    await store.applyAlertChanges({
      instances: persist,
      transitions: changes.map((c) => ({
        at: c.at,
        ruleId: c.instance.ruleId,
        fingerprint: c.instance.fingerprint,
        labels: c.instance.labels,
        from: c.from,
        to: c.to,
        value: c.instance.value,
      })),
      outbox,
      deleteInstances: dropped,
    });
    notifier.committed(outbox);
  }

  /** Resolves every pending or firing instance of a rule at `now` (the rule was deleted or disabled). */
  async resolveAll(ruleId: string, now: number): Promise<void> {
    // After any round in flight (which may still have read the rule before it was removed).
    await this.idle();
    const current = this.#o.catalog.instances.get(ruleId);
    if (!current) return;
    const changes: InstanceChange[] = [];
    const updated: AlertInstance[] = [];
    const dropped: { ruleId: string; fingerprint: string }[] = [];
    for (const inst of current.values()) {
      if (inst.state === "firing") {
        const next: AlertInstance = { ...inst, state: "resolved", resolvedAt: now };
        changes.push({ instance: next, from: "firing", to: "resolved", at: now });
        updated.push(next);
      } else if (inst.state === "pending") {
        changes.push({
          instance: { ...inst, state: "inactive", activeAt: null },
          from: "pending",
          to: "inactive",
          at: now,
        });
        dropped.push({ ruleId, fingerprint: inst.fingerprint });
      }
    }
    await this.#commit(changes, updated, updated, dropped, now);
  }
}
