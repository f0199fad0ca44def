/**
 * Paces a long read that runs in steps on the thread that answers ingestion:
 * between two steps, `pace()` yields to the runtime (a zero-delay timer turn,
 * `nextTimerTurn`, so sockets and timers are polled) once the steps since the
 * last yield have taken `budgetMs`, and otherwise returns at once. A yield
 * costs 1-2 ms (Deno clamps zero-delay timers), so yielding after every small
 * step would add that much per step to every read; with a budget the thread is
 * held at most about `budgetMs` plus one step, and a warm read pays a few
 * percent. The budget runs in wall time, across the client's pulls too: a pull
 * that follows a socket write may come without the runtime polling its sockets
 * in between (as MessageChannel turns do on Deno). Web-standard APIs only.
 */
import { nextTimerTurn } from "../ingest/macrotask.ts";

/** Default time a read may hold the thread between two yields, ms. */
export const READ_STEP_BUDGET_MS = 8;

export class StepPacer {
  #since = performance.now();
  /** Yields taken, for tests. */
  yields = 0;

  constructor(private readonly budgetMs = READ_STEP_BUDGET_MS) {}

  /** Yields to the runtime if the steps since the last yield took `budgetMs` or more. */
  async pace(): Promise<void> {
    if (performance.now() - this.#since < this.budgetMs) return;
    await nextTimerTurn();
    this.yields++;
    this.#since = performance.now();
  }
}
