/**
 * Reusable blocks of doubles for the rollup slots of scalar metric queries. A
 * day of minutes for 1,000 devices is 57 MB of slots; taking fresh memory for
 * every query cost ~10 % of its CPU time in page faults and collection. Blocks
 * come back when the answer has been written (`MetricsColumnsResult.release`)
 * and are kept up to `maxBytes`, by exact length (repeated queries ask for the
 * same lengths).
 */
export class SlotBlockPool {
  readonly #free = new Map<number, Float64Array<ArrayBuffer>[]>();
  #bytes = 0;

  constructor(readonly maxBytes: number) {}

  /** A block of `length` doubles, reused or new; its contents are unspecified. */
  take(length: number): Float64Array<ArrayBuffer> {
    const block = this.#free.get(length)?.pop();
    if (!block) return new Float64Array(length);
    this.#bytes -= block.byteLength;
    return block;
  }

  /** Blocks nothing reads any more; those beyond `maxBytes` are left to the collector. */
  give(blocks: readonly Float64Array<ArrayBuffer>[]): void {
    for (const block of blocks) {
      if (this.#bytes + block.byteLength > this.maxBytes) return;
      let list = this.#free.get(block.length);
      if (!list) this.#free.set(block.length, list = []);
      list.push(block);
      this.#bytes += block.byteLength;
    }
  }

  /** Bytes held for reuse. */
  get bytes(): number {
    return this.#bytes;
  }
}
