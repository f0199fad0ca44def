/**
 * Admission of reads (metric queries, event listings, exports): a token
 * bucket of reads per second per key, and slots for heavy reads per key and in
 * total, held from admission until the answer's last byte has been taken (or
 * the read ended otherwise). Reads run sliced on the thread that answers
 * ingestion (see `MetricsService.querySlices`, `export/export-service.ts`), so
 * these bounds are what keeps a key from occupying that thread: however many
 * requests it sends, at most `maxConcurrentPerKey` of its reads are being read
 * and written at once, each for at most `timeoutMs`.
 *
 * Pure TypeScript with an injected clock: the rate arithmetic is exact under
 * fake time (it is the ingest `RateLimiter`, counting reads instead of events).
 */
import type { Clock } from "../clock.ts";
import { OverloadedError, RateLimitedError } from "../errors.ts";
import { RateLimiter } from "../ingest/rate-limiter.ts";

/** The bounds of reads (READ_* variables, docs/CONFIGURATION.md). */
export interface ReadLimits {
  /** Sustained reads per second per key. */
  ratePerSecond: number;
  /** Reads a key may make at once after idling. */
  burst: number;
  /** Heavy reads of one key in progress at once (more: 429). */
  maxConcurrentPerKey: number;
  /** Heavy reads in progress at once over all keys (more: 503). */
  maxConcurrent: number;
  /** Longest a heavy read may take, from admission to its last byte, ms (then it is closed). */
  timeoutMs: number;
}

/** A heavy read's slot; `release` is idempotent. */
export interface ReadTicket {
  release(): void;
}

/** Seconds a client refused for concurrency is asked to wait. */
const BUSY_RETRY_SECONDS = 1;

export class ReadGate {
  readonly #rate: RateLimiter;
  readonly #perKey = new Map<string, number>();
  #active = 0;
  /** Refusals and deadlines since start, for /metrics and the tests. */
  readonly counters = { rateLimited: 0, busyKey: 0, busyTotal: 0, deadlines: 0 };

  constructor(clock: Clock, readonly limits: ReadLimits) {
    this.#rate = new RateLimiter(clock);
  }

  /**
   * Takes one read from `keyId`'s bucket and returns the RateLimit-* headers of the answer;
   * throws `RateLimitedError` (429 with Retry-After and those headers) when the bucket is empty.
   */
  charge(keyId: string): Record<string, string> {
    const limit = { ratePerSecond: this.limits.ratePerSecond, burst: this.limits.burst };
    const decision = this.#rate.take(keyId, 1, limit);
    const headers = {
      "RateLimit-Limit": String(decision.limit),
      "RateLimit-Remaining": String(decision.remaining),
      "RateLimit-Reset": String(decision.resetSeconds),
    };
    if (decision.allowed) return headers;
    this.counters.rateLimited++;
    const retry = decision.retryAfterSeconds ?? 1;
    throw new RateLimitedError(
      `Read rate limit exceeded: ${limit.ratePerSecond} reads/s with bursts of ${limit.burst}; retry after ${retry} s`,
      retry,
      headers,
    );
  }

  /**
   * A slot for one heavy read of `keyId`: throws `RateLimitedError` (429) when the key already has
   * `maxConcurrentPerKey` in progress, `OverloadedError` (503) when the server has `maxConcurrent`.
   */
  enter(keyId: string): ReadTicket {
    const own = this.#perKey.get(keyId) ?? 0;
    if (own >= this.limits.maxConcurrentPerKey) {
      this.counters.busyKey++;
      throw new RateLimitedError(
        `Too many reads in progress for this key (at most ${this.limits.maxConcurrentPerKey}); retry after ${BUSY_RETRY_SECONDS} s`,
        BUSY_RETRY_SECONDS,
        {},
      );
    }
    if (this.#active >= this.limits.maxConcurrent) {
      this.counters.busyTotal++;
      throw new OverloadedError(BUSY_RETRY_SECONDS);
    }
    this.#perKey.set(keyId, own + 1);
    this.#active++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#active--;
        const left = (this.#perKey.get(keyId) ?? 1) - 1;
        if (left > 0) this.#perKey.set(keyId, left);
        else this.#perKey.delete(keyId);
      },
    };
  }

  /** Heavy reads in progress. */
  get active(): number {
    return this.#active;
  }

  /** Heavy reads of `keyId` in progress. */
  activeFor(keyId: string): number {
    return this.#perKey.get(keyId) ?? 0;
  }
}
