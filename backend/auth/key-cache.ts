/**
 * Key records of recent ingest requests, so that ingestion skips one store read per request (it
 * was ~17 % of the single-event path; docs/PERFORMANCE.md). This is safe only together with the
 * commit-time check: every ingest commit names its keys (`KeyGuard`) and lands only if they are
 * still active inside its own transaction, so a key revoked anywhere (admin API, CLI, another
 * process) is refused on its very next request and nothing of it is stored. The other fields
 * (scopes, rate limit) are re-read after `ttlMs`, and at once when this process changes the key.
 * Unknown keys are never cached.
 */
import { UnauthorizedError } from "../errors.ts";
import type { Clock } from "../clock.ts";
import type { ApiKeyRecord, Store } from "../store/store.ts";

export class ApiKeyCache {
  #byHash = new Map<string, { record: ApiKeyRecord; readAt: number }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly ttlMs = 1000,
    private readonly maxEntries = 10_000,
  ) {}

  /** The record for `hash`, from the cache when read less than `ttlMs` ago. */
  async find(hash: string): Promise<ApiKeyRecord | null> {
    const now = this.clock.now();
    const hit = this.#byHash.get(hash);
    if (hit && now - hit.readAt < this.ttlMs) return hit.record;
    const record = await this.store.findApiKeyByHash(hash);
    if (!record) {
      this.#byHash.delete(hash);
      return null;
    }
    if (this.#byHash.size >= this.maxEntries) this.#byHash.clear();
    this.#byHash.set(hash, { record, readAt: now });
    return record;
  }

  /** Drops the key `keyId` (changed or refused), so that its next request reads the store. */
  forget(keyId: string): void {
    for (const [hash, { record }] of this.#byHash) if (record.id === keyId) this.#byHash.delete(hash);
  }

  /**
   * Why each of `keyIds` can no longer commit, for the group committer after a commit's key check
   * failed: the 401 its requests get (active keys are absent). Refused keys are forgotten.
   */
  async refusals(keyIds: readonly string[]): Promise<Map<string, UnauthorizedError>> {
    const refused = new Map<string, UnauthorizedError>();
    const now = this.clock.now();
    for (const id of new Set(keyIds)) {
      const problem = keyProblem(await this.store.getApiKey(id), now);
      if (!problem) continue;
      refused.set(id, problem);
      this.forget(id);
    }
    return refused;
  }
}

/** Why `record` cannot be used at `now` (unknown, revoked or expired), or null when it can. */
export function keyProblem(record: ApiKeyRecord | null, now: number): UnauthorizedError | null {
  if (!record) return new UnauthorizedError("Invalid API key");
  if (record.revokedAt !== null) return new UnauthorizedError("API key has been revoked");
  if (record.expiresAt !== null && record.expiresAt <= now) {
    return new UnauthorizedError("API key has expired");
  }
  return null;
}
