/**
 * Group commit: many concurrent ingest requests share one store transaction.
 *
 * `submit(events)` queues a request's events and resolves with their outcomes
 * once the transaction holding them has committed, so a caller acknowledges
 * only durable events. Up to `maxInFlight` commits are in the store at once
 * (1 unless given; the server asks for COMMIT_MAX_IN_FLIGHT); whatever queues meanwhile forms the next transaction (up to
 * `maxBatchEvents`, never splitting a request), so the batch size grows with
 * load and a transaction's cost is shared by every request in it. Commits in
 * flight together are made in the order they were handed to the store, and
 * observers and submitters hear of them in that order.
 *
 * The queue is bounded by `maxQueuedEvents`: beyond it `submit` throws
 * `OverloadedError` at once (503 with Retry-After) instead of buffering.
 *
 * With `keys`, a request submitted for an API key commits only while that key
 * is active: the transaction checks every key of the batch (`KeyGuard`), and
 * when one was revoked or expired in the meantime its requests are refused
 * with the 401 and the others are committed in the next round. Likewise a
 * request whose idempotency record was predicted wrongly (`StalePredictionError`
 * names it; when the store cannot tell which, every request with a prediction)
 * fails with that error, for its caller to retry, and the others go on.
 */
import type { EnrichedEvent } from "../../shared/event.ts";
import { OverloadedError } from "../errors.ts";
import {
  type CommitOutcome,
  CommitOutcomeUnknownError,
  type CommitResult,
  type IdempotencyRecord,
  InactiveKeyError,
  StalePredictionError,
  type Store,
} from "../store/store.ts";
import { createMacrotask } from "./macrotask.ts";

export interface GroupCommitterOptions {
  /** Most events per transaction. */
  maxBatchEvents: number;
  /** Most events queued (not yet in a running commit). */
  maxQueuedEvents: number;
  /** Wait before committing so that more requests can join, in ms (0: next macrotask). */
  lingerMs: number;
  /**
   * Most commits handed to the store at once (default 1). Above 1 only for a store whose commits
   * queue in call order (its writer thread runs one after the other): the next batch is then on
   * its way while the previous one commits, instead of after its reply came back.
   */
  maxInFlight?: number;
}

/** Observations of each commit, for metrics and downstream processing. */
export interface CommitObserver {
  onCommit?(info: { events: number; requests: number; durationMs: number; ok: boolean }): void;
  /**
   * Called once per successful commit, in commit order, before any submitter hears of it:
   * `events[i]` was accepted as seq `firstSeq + i` when `outcomes[i]` is `accepted`.
   */
  onCommitted?(events: readonly EnrichedEvent[], result: CommitResult): void;
  /**
   * Called, in commit order, when a commit's events were stored but the store could not say
   * which were new (`CommitOutcomeUnknownError`): processing downstream must not move past them.
   * Its submitters then fail with that error (503; a retry finds their events stored).
   */
  onCommitUncertain?(events: readonly EnrichedEvent[]): void;
}

/** How commits check the API keys they are made for. */
export interface CommitKeyCheck {
  now(): number;
  /** The error each inactive key's requests fail with (active keys are absent). */
  refusals(keyIds: readonly string[]): Promise<Map<string, Error>>;
}

interface Pending {
  events: readonly EnrichedEvent[];
  records: readonly IdempotencyRecord[];
  keyId: string | undefined;
  resolve: (outcomes: CommitOutcome[]) => void;
  reject: (error: unknown) => void;
}

export class GroupCommitter {
  #queue: Pending[] = [];
  #queuedEvents = 0;
  #inFlight = 0;
  // Resolves once the latest commit handed to the store, and every one before it, was reported.
  #reported: Promise<void> = Promise.resolve();
  #scheduled = false;
  #closed = false;
  #idle: (() => void)[] = [];
  #lastFailure: { at: number; error: unknown } | null = null;
  #nextTick = createMacrotask(() => this.#run());

  constructor(
    private readonly store: Store,
    private readonly options: GroupCommitterOptions,
    private observer?: CommitObserver,
    private readonly keys?: CommitKeyCheck,
  ) {}

  /** Sets who hears of each commit (the stream engine, metrics). */
  observe(observer: CommitObserver): void {
    this.observer = observer;
  }

  /** Events waiting for a transaction. */
  get queuedEvents(): number {
    return this.#queuedEvents;
  }

  /**
   * The latest commit that failed (`at`: `performance.now()` ms), as long as no commit has
   * succeeded since; null otherwise. Refusals of single requests (an inactive key, a stale
   * idempotency prediction) are not failures. Reported by /readyz: reads can succeed while every
   * write fails (a full disk, a lock held by another process).
   */
  get lastFailure(): { at: number; error: unknown } | null {
    return this.#lastFailure;
  }

  /** Whether the queue is at least 90% full (reported by /readyz). */
  get saturated(): boolean {
    return this.#queuedEvents >= this.options.maxQueuedEvents * 0.9;
  }

  /**
   * Commits `events` (and `records`, in the same transaction) atomically with whatever else is
   * queued; resolves after the commit. With `keyId`, only while that key is active.
   */
  submit(
    events: readonly EnrichedEvent[],
    records: readonly IdempotencyRecord[] = [],
    keyId?: string,
  ): Promise<CommitOutcome[]> {
    if (this.#closed) return Promise.reject(new OverloadedError());
    if (events.length === 0 && records.length === 0) return Promise.resolve([]);
    if (this.#queuedEvents + events.length > this.options.maxQueuedEvents) {
      return Promise.reject(new OverloadedError());
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ events, records, keyId, resolve, reject });
      this.#queuedEvents += events.length;
      this.#schedule();
    });
  }

  /** Stops taking new work and resolves when everything queued has committed. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#inFlight > 0 || this.#queue.length > 0) {
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
    this.#nextTick.close();
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= (this.options.maxInFlight ?? 1)) return;
    this.#scheduled = true;
    if (this.options.lingerMs > 0) setTimeout(() => this.#run(), this.options.lingerMs);
    else this.#nextTick.schedule();
  }

  #run(): void {
    this.#scheduled = false;
    void this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#inFlight >= (this.options.maxInFlight ?? 1) || this.#queue.length === 0) return;
    this.#inFlight++;
    const batch: Pending[] = [];
    let size = 0;
    while (this.#queue.length > 0) {
      const next = this.#queue[0];
      if (batch.length > 0 && size + next.events.length > this.options.maxBatchEvents) break;
      batch.push(this.#queue.shift()!);
      size += next.events.length;
    }
    this.#queuedEvents -= size;
    const all = batch.length === 1 ? batch[0].events : batch.flatMap((p) => p.events);
    const started = performance.now();
    const keyIds = this.keys ? [...new Set(batch.flatMap((p) => p.keyId ?? []))] : [];
    const guard = keyIds.length ? { ids: keyIds, now: this.keys!.now() } : undefined;
    let result: CommitResult;
    const records = batch.flatMap((p) => p.records);
    // Reported after the commits handed to the store before this one (the same order as theirs).
    const earlier = this.#reported;
    let reported!: () => void;
    this.#reported = new Promise((resolve) => (reported = resolve));
    let committing: Promise<CommitResult>;
    try {
      committing = this.store.commitEvents(all, records, guard);
    } catch (error) {
      committing = Promise.reject(error); // a store that throws at once must not stall the chain
    }
    if (this.#queue.length > 0) this.#schedule(); // with room for one more, the next batch goes now
    try {
      result = await committing;
    } catch (error) {
      // A failed commit reports nothing, but the next ones wait for it to have its turn.
      void earlier.then(reported);
      const refused = error instanceof InactiveKeyError
        ? await this.#inactive(batch, keyIds)
        : error instanceof StalePredictionError
        ? new Map(
          batch.filter((p) =>
            error.records.length === 0
              ? p.records.some((r) => r.predictedNewIds)
              : error.records.some((i) => p.records.includes(records[i]))
          ).map((p) => [p, error]),
        )
        : null;
      if (refused?.size) {
        this.#retryWithout(batch, refused);
        this.#settled();
        return;
      }
      if (error instanceof CommitOutcomeUnknownError) {
        await earlier;
        try {
          this.observer?.onCommitUncertain?.(all);
        } catch {
          // The observer reports its own failures; the submitters hear of the error below.
        }
      }
      this.#lastFailure = { at: performance.now(), error };
      this.#report({
        events: size,
        requests: batch.length,
        durationMs: performance.now() - started,
        ok: false,
      });
      for (const p of batch) p.reject(error);
      this.#settled();
      return;
    }
    // The transaction alone is timed (with the one before it, when two are in flight):
    // downstream processing is not part of the commit.
    const durationMs = performance.now() - started;
    this.#lastFailure = null;
    await earlier;
    try {
      this.observer?.onCommitted?.(all, result);
    } catch {
      // Downstream processing must never turn a durable commit into a failed request; the
      // observer reports its own failures.
    }
    this.#report({ events: size, requests: batch.length, durationMs, ok: true });
    const { outcomes } = result;
    let offset = 0;
    for (const p of batch) {
      p.resolve(outcomes.slice(offset, offset + p.events.length));
      offset += p.events.length;
    }
    reported();
    this.#settled();
  }

  /**
   * After a commit refused for an inactive key: the requests of the inactive keys, with their
   * 401s (none found, or the lookup failed: empty, and the batch fails as a whole).
   */
  async #inactive(batch: Pending[], keyIds: readonly string[]): Promise<Map<Pending, Error>> {
    const refused = new Map<Pending, Error>();
    const refusals = await this.keys!.refusals(keyIds).catch(() => new Map<string, Error>());
    for (const p of batch) {
      const refusal = p.keyId === undefined ? undefined : refusals.get(p.keyId);
      if (refusal) refused.set(p, refusal);
    }
    return refused;
  }

  /** Fails the `refused` requests with their errors and puts the others back at the head of the queue. */
  #retryWithout(batch: Pending[], refused: Map<Pending, Error>): void {
    const kept = batch.filter((p) => {
      const error = refused.get(p);
      if (error) p.reject(error);
      return !error;
    });
    this.#queue.unshift(...kept);
    for (const p of kept) this.#queuedEvents += p.events.length;
  }

  /** Tells the observer of a commit; a throwing observer never changes what submitters hear. */
  #report(info: { events: number; requests: number; durationMs: number; ok: boolean }): void {
    try {
      this.observer?.onCommit?.(info);
    } catch {
      // Metrics are best effort: the commit's outcome stands.
    }
  }

  #settled(): void {
    this.#inFlight--;
    if (this.#queue.length > 0) this.#schedule();
    else if (this.#inFlight === 0) { for (const done of this.#idle.splice(0)) done(); }
  }
}
