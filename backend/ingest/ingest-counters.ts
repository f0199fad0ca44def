/**
 * Running totals of ingestion outcomes for the live `stats` channel (the
 * dashboard's overview turns them into rates): events accepted, duplicate,
 * rejected by validation and refused by the rate limiter, plus the size of
 * the last commits. Counts only; no clock, no runtime.
 */
import type { RateDecision, RateLimit } from "./rate-limiter.ts";

export interface IngestCountersSnapshot {
  accepted: number;
  duplicate: number;
  /** Items that failed validation (HTTP, WebSocket and import). */
  rejected: number;
  /** Events refused with 429 (the request's event count). */
  rateLimited: number;
  commits: number;
  /** Events in the most recent commit. */
  lastCommitEvents: number;
  /** Mean events per commit over the last COMMIT_WINDOW commits. */
  meanCommitEvents: number;
}

/** Commits the mean batch size is taken over. */
const COMMIT_WINDOW = 64;

export class IngestCounters {
  accepted = 0;
  duplicate = 0;
  rejected = 0;
  rateLimited = 0;
  commits = 0;
  #recent: number[] = [];

  /** Counts a commit's outcomes (`accepted` / `duplicate` per event). */
  onOutcomes(outcomes: readonly string[]): void {
    for (const o of outcomes) {
      if (o === "accepted") this.accepted++;
      else if (o === "duplicate") this.duplicate++;
    }
  }

  onCommit(events: number): void {
    this.commits++;
    this.#recent.push(events);
    if (this.#recent.length > COMMIT_WINDOW) this.#recent.shift();
  }

  snapshot(): IngestCountersSnapshot {
    const n = this.#recent.length;
    return {
      accepted: this.accepted,
      duplicate: this.duplicate,
      rejected: this.rejected,
      rateLimited: this.rateLimited,
      commits: this.commits,
      lastCommitEvents: n ? this.#recent[n - 1] : 0,
      meanCommitEvents: n ? Math.round((this.#recent.reduce((a, b) => a + b, 0) / n) * 10) / 10 : 0,
    };
  }

  /** Wraps a validator so that every failed item is counted as rejected. */
  countingValidator<V extends { validate(item: unknown, now: number): { ok: boolean } }>(validator: V): V {
    const validate = validator.validate.bind(validator) as V["validate"];
    return {
      ...validator,
      validate: ((item: unknown, now: number) => {
        const result = validate(item, now);
        if (!result.ok) this.rejected++;
        return result;
      }) as V["validate"],
    };
  }

  /** Wraps a limiter so that refused events are counted as rate-limited. */
  countingLimiter<L extends { take(key: string, cost: number, limit: RateLimit): RateDecision }>(
    limiter: L,
  ): L {
    const take = limiter.take.bind(limiter);
    const counted: L["take"] = (key, cost, limit) => {
      const decision = take(key, cost, limit);
      if (!decision.allowed && decision.retryAfterSeconds !== null) this.rateLimited += cost;
      return decision;
    };
    // Everything else goes to the limiter itself (`this` bound to it, so private fields work).
    return new Proxy(limiter, {
      get(target, prop) {
        if (prop === "take") return counted;
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }
}
