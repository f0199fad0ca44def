/**
 * Automatic replay of parked work (docs/STORAGE.md): on a timer, every pending
 * dead letter of the given kinds (the server passes `rollup-flush`) is replayed
 * once it is due, with exponential backoff: the first automatic replay
 * `backoffMs` after the failure that parked it, each later one twice as long
 * after the previous failure (at most a day). After `maxAttempts` failed
 * automatic replays an item stays pending for an admin (a manual replay still
 * works). The schedule is derived from the item's stored `lastFailedAt` and
 * `autoReplays`, so it survives restarts, and a replay is applied at most once
 * whoever triggers it (DeadLetterService runs replays one at a time; the
 * rollup handler settles the item in the transaction of its write).
 */
import type { Clock } from "../clock.ts";
import type { Logger } from "../logger.ts";
import type { DeadLetter, DeadLetterStore } from "../store/storage-store.ts";
import { deadLetterPages } from "./dead-letter-pages.ts";
import type { DeadLetterService, ReplayOutcome } from "./dead-letter-service.ts";

export interface AutoReplayOptions {
  /** Kinds replayed automatically. */
  kinds: readonly string[];
  /** Wait after the parking failure before the first automatic replay, ms; doubles after each failed one. */
  backoffMs: number;
  /** Failed automatic replays after which an item waits for an admin. 0: no automatic replays. */
  maxAttempts: number;
}

/** The longest wait between two automatic replays of one item. */
export const MAX_REPLAY_DELAY_MS = 86_400_000;
/** Most replays one run makes (the next run continues). */
const MAX_PER_RUN = 100;

/** When `letter` is due for its next automatic replay, or null once it has had all of them. */
export function nextAutoReplayAt(letter: DeadLetter, options: AutoReplayOptions): number | null {
  if (letter.replayedAt !== null || letter.autoReplays >= options.maxAttempts) return null;
  return letter.lastFailedAt + Math.min(MAX_REPLAY_DELAY_MS, options.backoffMs * 2 ** letter.autoReplays);
}

export class DeadLetterAutoReplay {
  #timer: ReturnType<typeof setInterval> | null = null;
  #running: Promise<ReplayOutcome[]> | null = null;

  constructor(
    private readonly service: DeadLetterService,
    private readonly letters: DeadLetterStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    readonly options: AutoReplayOptions,
  ) {}

  /** Looks for due items every half backoff (1 s to 1 min). */
  start(): void {
    if (this.options.maxAttempts === 0) return;
    const every = Math.max(1000, Math.min(60_000, this.options.backoffMs / 2));
    this.#timer = setInterval(() => {
      this.runOnce().catch((error) => this.logger.error("automatic replay failed", { error: String(error) }));
    }, every);
  }

  /** Replays the items due now, oldest first (a run already going is joined, not doubled). */
  runOnce(): Promise<ReplayOutcome[]> {
    this.#running ??= this.#run().finally(() => (this.#running = null));
    return this.#running;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#running?.catch(() => {});
  }

  async #run(): Promise<ReplayOutcome[]> {
    const outcomes: ReplayOutcome[] = [];
    for (const kind of this.options.kinds) {
      for await (const page of deadLetterPages(this.letters, { kind, pending: true })) {
        for (const letter of page) {
          const due = nextAutoReplayAt(letter, this.options);
          if (due === null || due > this.clock.now()) continue;
          const outcome = await this.service.replayAutomatically(letter.id);
          outcomes.push(outcome);
          if (outcome.outcome === "failed" && letter.autoReplays + 1 >= this.options.maxAttempts) {
            this.logger.error("dead letter failed every automatic replay; it waits for an admin", {
              id: letter.id,
              kind,
              attempts: this.options.maxAttempts,
            });
          }
          if (outcomes.length >= MAX_PER_RUN) return outcomes;
        }
      }
    }
    return outcomes;
  }
}
