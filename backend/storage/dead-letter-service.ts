/**
 * The dead-letter queue: anything accepted that later failed inside the
 * pipeline is kept here with its payload, reason, time and attempt count
 * (docs/STORAGE.md). Producers call `add` (the generic API: e.g. a notification
 * outbox for a notification that exhausted its retries); the stream service
 * parks rollup ranges and undecodable events itself. Replay runs the handler
 * registered for the item's kind, one replay at a time; an item is replayed at
 * most once (a replayed item is never run again, and the rollup handler marks
 * it in the same transaction as its write).
 */
import type { Clock } from "../clock.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { DeadLetter, DeadLetterCount, DeadLetterQuery } from "../store/storage-store.ts";
import type { Store } from "../store/store.ts";
import { deadLetterPages } from "./dead-letter-pages.ts";

/** Replays one item; throws if it failed again. May mark the item replayed itself (atomically). */
export type ReplayHandler = (letter: DeadLetter) => Promise<void>;

/** The outcome of replaying one item. */
export interface ReplayOutcome {
  id: number;
  outcome: "replayed" | "already-replayed" | "failed";
  /** Why it failed again (for `failed`). */
  reason?: string;
}

/** Most items one `replayAll` call replays. */
export const MAX_REPLAY_ALL = 1000;

export class DeadLetterService {
  readonly #handlers = new Map<string, ReplayHandler>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Sets the replay handler of `kind` (e.g. `notification`, wired by whoever produces them). */
  register(kind: string, handler: ReplayHandler): void {
    this.#handlers.set(kind, handler);
  }

  /** Keeps a failed item (the time is the clock's now). */
  add(item: { kind: string; payload: unknown; reason: string; attempts: number }): Promise<DeadLetter> {
    return this.store.deadLetters.add({ ...item, at: this.clock.now() });
  }

  list(query: DeadLetterQuery): Promise<DeadLetter[]> {
    return this.store.deadLetters.list(query);
  }

  async get(id: number): Promise<DeadLetter> {
    const letter = await this.store.deadLetters.get(id);
    if (!letter) throw new NotFoundError(`No dead letter ${id}`);
    return letter;
  }

  /** Replays one item (404 if unknown, 409 if its kind has no handler). */
  replay(id: number): Promise<ReplayOutcome> {
    return this.#serial(async () => {
      const letter = await this.get(id);
      return await this.#replayOne(letter, false);
    });
  }

  /**
   * Replays the pending items (of one kind, or all) whose kind has a handler, oldest first, at most
   * `MAX_REPLAY_ALL`, reading them a page at a time.
   */
  replayAll(kind?: string): Promise<ReplayOutcome[]> {
    return this.#serial(async () => {
      const outcomes: ReplayOutcome[] = [];
      for await (const page of deadLetterPages(this.store.deadLetters, { kind, pending: true })) {
        for (const letter of page) {
          if (!this.#handlers.has(letter.kind)) continue;
          outcomes.push(await this.#replayOne(letter, false));
          if (outcomes.length >= MAX_REPLAY_ALL) return outcomes;
        }
      }
      return outcomes;
    });
  }

  /**
   * Replays one item as an automatic attempt (storage/auto-replay.ts): like `replay`, but a
   * failure also counts in its `autoReplays`.
   */
  replayAutomatically(id: number): Promise<ReplayOutcome> {
    return this.#serial(async () => await this.#replayOne(await this.get(id), true));
  }

  purge(query: { kind?: string; replayedOnly?: boolean }): Promise<number> {
    return this.store.deadLetters.purge(query);
  }

  /** Pending and replayed counts per kind: what /metrics exports. */
  counts(): Promise<DeadLetterCount[]> {
    return this.store.deadLetters.counts();
  }

  async #replayOne(letter: DeadLetter, automatic: boolean): Promise<ReplayOutcome> {
    if (letter.replayedAt !== null) return { id: letter.id, outcome: "already-replayed" };
    const handler = this.#handlers.get(letter.kind);
    if (!handler) throw new ConflictError(`No replay handler for dead letters of kind "${letter.kind}"`);
    try {
      await handler(letter);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      await this.store.deadLetters.recordFailure(letter.id, reason, this.clock.now(), { automatic });
      this.logger.warn("dead letter replay failed", { id: letter.id, kind: letter.kind, reason, automatic });
      return { id: letter.id, outcome: "failed", reason };
    }
    // Handlers that cannot mark atomically (an external send) are marked now; no-op otherwise.
    await this.store.deadLetters.markReplayed(letter.id, this.clock.now());
    return { id: letter.id, outcome: "replayed" };
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }
}
