/**
 * Bounds the bytes the live fan-out hands to transports per event-loop turn.
 *
 * Every write to a subscriber costs the thread that answers ingest its JSON
 * frame lookup, the runtime's copy and the kernel's socket write. A thousand
 * subscribers whose sockets still take bytes (a peer that stopped reading
 * takes several MB before its kernel buffers are full) asked for more writes
 * than the thread can make, and every one that was ready ran before the next
 * request was read: ingest answered in seconds. Here a turn hands out at most
 * `turnBytes`; further writes wait, in order, for the next timer turn, which
 * the runtime starts only after it polled I/O (requests, commits). The writes
 * then come at the rate the thread can make them between requests; a
 * subscriber that falls behind meanwhile is skipped ahead or closed by its
 * bounds, as one whose peer is slow.
 */
export class SendTurns {
  #left: number;
  #waiting: (() => void)[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  /** `turnBytes`: bytes handed out per turn before writes wait for the next one. */
  constructor(private readonly turnBytes: number, private readonly writeBytes: number) {
    this.#left = turnBytes;
  }

  /** Resolves when a write of at most `writeBytes` may go (at once while the turn has budget left). */
  slot(): Promise<void> | null {
    if (this.#left > 0 && this.#head === this.#waiting.length) {
      this.#arm();
      return null;
    }
    this.#arm();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Counts a write made after `slot`. */
  spend(bytes: number): void {
    this.#left -= bytes;
  }

  /** Writes waiting for a turn. */
  get waiting(): number {
    return this.#waiting.length - this.#head;
  }

  #arm(): void {
    this.#timer ??= setTimeout(() => this.#turn(), 0);
  }

  /** A new turn: the budget is full again and the first waiting writes go. */
  #turn(): void {
    this.#timer = null;
    this.#left = this.turnBytes;
    let budget = this.turnBytes;
    while (this.#head < this.#waiting.length && budget > 0) {
      budget -= this.writeBytes; // the most a write may cost; spend() counts what it did
      this.#waiting[this.#head++]();
    }
    if (this.#head === this.#waiting.length) {
      this.#waiting = [];
      this.#head = 0;
    } else this.#arm();
  }
}
