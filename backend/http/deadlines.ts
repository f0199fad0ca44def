/**
 * Timeouts that share one timer. Every body read of a route gets the same timeout, so deadlines
 * fall due in the order they were set: a list in that order with one timer armed for its head
 * replaces a `setTimeout`/`clearTimeout` pair per request (about 3 % of the single-event path
 * under Deno, docs/PERFORMANCE.md). A settled entry is unlinked at once, so the list holds only
 * the reads in progress.
 */
interface Entry {
  due: number;
  prev: Entry | null;
  next: Entry | null;
  expire: (() => void) | null;
}

export class DeadlineQueue {
  #head: Entry | null = null;
  #tail: Entry | null = null;
  #size = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(readonly timeoutMs: number, private readonly now: () => number = () => performance.now()) {}

  /** Reads in progress. */
  get size(): number {
    return this.#size;
  }

  /**
   * Settles as `work` does, or rejects with `onExpire()` when `work` has not settled within
   * `timeoutMs` (`onExpire` should also cancel whatever `work` waits on).
   */
  race<T>(work: Promise<T>, onExpire: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Entry = { due: this.now() + this.timeoutMs, prev: this.#tail, next: null, expire: null };
      entry.expire = () => reject(onExpire());
      if (this.#tail) this.#tail.next = entry;
      else this.#head = entry;
      this.#tail = entry;
      this.#size++;
      this.#arm();
      work.then(
        (value) => {
          this.#unlink(entry);
          resolve(value);
        },
        (error) => {
          this.#unlink(entry);
          reject(error);
        },
      );
    });
  }

  #unlink(entry: Entry): void {
    if (entry.expire === null) return; // expired already
    entry.expire = null;
    if (entry.prev) entry.prev.next = entry.next;
    else this.#head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.#tail = entry.prev;
    entry.prev = entry.next = null;
    this.#size--;
  }

  #arm(): void {
    if (this.#timer !== null || this.#head === null) return;
    this.#timer = setTimeout(() => this.#sweep(), Math.max(0, this.#head.due - this.now()));
    // A pending read deadline must not keep the process alive on its own (Deno and Node).
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #sweep(): void {
    this.#timer = null;
    const now = this.now();
    while (this.#head !== null && this.#head.due <= now) {
      const entry = this.#head;
      const expire = entry.expire!;
      this.#unlink(entry);
      expire();
    }
    this.#arm();
  }
}
