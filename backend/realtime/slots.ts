/**
 * Live subscriber slots per API key and in total: what the caps count. A slot
 * is taken when a subscription starts and freed when its connection has
 * ended, so a key never holds more connections than its cap, whatever the
 * hub did with them meanwhile.
 */
import { RateLimitedError } from "../errors.ts";

export class SubscriberSlots {
  #byKey = new Map<string, number>();
  #total = 0;

  constructor(private readonly maxTotal: number, private readonly maxPerKey: number) {}

  /** Slots held. */
  get size(): number {
    return this.#total;
  }

  /** Throws the `RateLimitedError` (429) a new subscription of `keyId` would get now. */
  assertFree(keyId: string): void {
    if (this.#total >= this.maxTotal) {
      throw new RateLimitedError(`At most ${this.maxTotal} live subscribers`, 5, {});
    }
    if ((this.#byKey.get(keyId) ?? 0) >= this.maxPerKey) {
      throw new RateLimitedError(`At most ${this.maxPerKey} live subscribers per API key`, 5, {});
    }
  }

  /** Takes a slot for `keyId` (or throws as `assertFree`); the returned function frees it, once. */
  take(keyId: string): () => void {
    this.assertFree(keyId);
    this.#total++;
    this.#byKey.set(keyId, (this.#byKey.get(keyId) ?? 0) + 1);
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      this.#total--;
      const left = this.#byKey.get(keyId)! - 1;
      if (left === 0) this.#byKey.delete(keyId);
      else this.#byKey.set(keyId, left);
    };
  }
}
