/**
 * How many events were fed to the engine up to a seq, for the seq ranges above
 * the rollup checkpoint: a parked range's dead letter records how many events
 * it stands for, so that a replay finding fewer (dropped meanwhile) fails
 * instead of settling. Kept as [highest seq of a feed, running total] pairs,
 * pruned as the checkpoint passes them.
 */
export class FedLog {
  #log: [number, number][] = [];
  #total = 0;
  #base = 0;

  /** Records a feed of `n` events whose highest seq is `seq` (feeds come in seq order). */
  note(seq: number, n: number): void {
    if (n === 0) return;
    this.#total += n;
    this.#log.push([seq, this.#total]);
  }

  /** Events fed with a seq <= `seq` (exact at feed edges and at or above the last prune). */
  upTo(seq: number): number {
    let total = this.#base;
    for (const [s, t] of this.#log) {
      if (s > seq) break;
      total = t;
    }
    return total;
  }

  /** Forgets the feeds at or below `checkpoint` (their count stays the base). */
  prune(checkpoint: number): void {
    let i = 0;
    while (i < this.#log.length && this.#log[i][0] <= checkpoint) i++;
    if (i > 0) this.#base = this.#log[i - 1][1];
    this.#log.splice(0, i);
  }
}
