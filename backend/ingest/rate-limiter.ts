/**
 * Per-key token buckets counting events. A bucket holds up to `burst` tokens
 * and refills at `ratePerSecond`; a request costing `cost` events passes when
 * that many tokens are there, and takes them. Time comes from the injected
 * clock, so the arithmetic is exact under fake time. State is in memory, per
 * process; a bucket that has refilled completely is forgotten (it is the same
 * as a new one), so memory is bounded by the keys active within one refill.
 */
import type { Clock } from "../clock.ts";

/** A bucket's parameters. */
export interface RateLimit {
  /** Sustained events per second. */
  ratePerSecond: number;
  /** Bucket size: the most events accepted at once after idling. */
  burst: number;
}

/** The outcome of `take`, with what the RateLimit-* headers report. */
export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until the bucket is full again (rounded up). */
  resetSeconds: number;
  /** When refused: seconds until `cost` tokens will be there (rounded up), or null if never (cost > burst). */
  retryAfterSeconds: number | null;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class RateLimiter {
  #buckets = new Map<string, Bucket>();

  constructor(private readonly clock: Clock, private readonly maxBuckets = 100_000) {}

  /** Tries to take `cost` tokens from `key`'s bucket. */
  take(key: string, cost: number, limit: RateLimit): RateDecision {
    const now = this.clock.now();
    const bucket = this.#buckets.get(key) ?? { tokens: limit.burst, updatedAt: now };
    const refilled = Math.min(
      limit.burst,
      bucket.tokens + ((now - bucket.updatedAt) / 1000) * limit.ratePerSecond,
    );
    const allowed = cost <= refilled;
    const tokens = allowed ? refilled - cost : refilled;
    if (tokens >= limit.burst) this.#buckets.delete(key);
    else {
      if (!this.#buckets.has(key) && this.#buckets.size >= this.maxBuckets) this.#evictFull(now, limit);
      this.#buckets.set(key, { tokens, updatedAt: now });
    }
    const perToken = 1 / limit.ratePerSecond;
    return {
      allowed,
      limit: limit.burst,
      remaining: Math.floor(tokens),
      resetSeconds: Math.ceil((limit.burst - tokens) * perToken),
      retryAfterSeconds: allowed
        ? null
        : cost > limit.burst
        ? null
        : Math.max(1, Math.ceil((cost - tokens) * perToken)),
    };
  }

  #evictFull(now: number, limit: RateLimit): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((now - b.updatedAt) / 1000) * limit.ratePerSecond >= limit.burst) {
        this.#buckets.delete(key);
      }
    }
  }
}
