/**
 * Records a key's last use without a write per request: at most one
 * `touchApiKey` per key per `intervalMs` (default 60 s), fire-and-forget.
 * `lastUsedAt` is therefore accurate to the interval.
 */
import type { Logger } from "../logger.ts";
import type { Store } from "../store/store.ts";

export class KeyUsageRecorder {
  #lastWrite = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
  ) {}

  record(keyId: string, now: number): void {
    const last = this.#lastWrite.get(keyId);
    if (last !== undefined && now - last < this.intervalMs) return;
    if (this.#lastWrite.size > 10_000) this.#lastWrite.clear();
    this.#lastWrite.set(keyId, now);
    this.store.touchApiKey(keyId, now).catch((error) =>
      this.logger.warn("could not record key use", { keyId, error: String(error) })
    );
  }
}
