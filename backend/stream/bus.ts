/**
 * A minimal in-process publish/subscribe channel: the stream engine publishes
 * on it, the realtime layer fans out to clients. Subscribers are called
 * synchronously in subscription order; one that throws is reported through
 * `onError` and does not stop the others.
 */
export class Bus<T> {
  #subscribers = new Set<(message: T) => void>();

  constructor(private readonly onError: (error: unknown) => void = () => {}) {}

  /** Adds a subscriber; returns the function that removes it. */
  subscribe(fn: (message: T) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  publish(message: T): void {
    for (const fn of this.#subscribers) {
      try {
        fn(message);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  get size(): number {
    return this.#subscribers.size;
  }
}
