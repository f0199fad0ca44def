/**
 * A response body with a total deadline and a pull-only relay: the inner
 * stream is read only when the runtime asks for the next chunk (so a client
 * that does not read holds what the socket buffers plus one chunk, never the
 * answer), and when the deadline passes before the last byte the body errors,
 * which makes Deno and Node drop the connection (an HTTP/1.1 chunked answer
 * then has no final chunk, so a client cannot take it for a whole one).
 * Web-standard streams only.
 */

/** Hooks of `deadlineBody`. */
export interface DeadlineBodyHooks {
  /** Called exactly once when the body ends for any reason: finished, failed, cancelled or expired. */
  onEnd(): void;
  /** Called (before `onEnd`) when the deadline passed with bytes still to send. */
  onExpired(): void;
}

/** The body ended because its read took longer than its deadline. */
export class ReadDeadlineError extends Error {
  constructor(ms: number) {
    super(`read not finished within ${ms} ms`);
    this.name = "ReadDeadlineError";
  }
}

/**
 * `inner` relayed one chunk per pull, ending with an error `ms` after this call unless it has
 * finished by then. `onEnd` runs once whatever happens (the caller's slot is released there).
 */
export function deadlineBody<T>(
  inner: ReadableStream<T>,
  ms: number,
  hooks: DeadlineBodyHooks,
): ReadableStream<T> {
  const reader = inner.getReader();
  let ended = false;
  let controller!: ReadableStreamDefaultController<T>;
  const end = () => {
    if (ended) return false;
    ended = true;
    clearTimeout(timer);
    hooks.onEnd();
    return true;
  };
  const timer = setTimeout(() => {
    if (ended) return;
    hooks.onExpired();
    end();
    controller.error(new ReadDeadlineError(ms));
    reader.cancel(new ReadDeadlineError(ms)).catch(() => {});
  }, ms);
  return new ReadableStream<T>({
    start(c) {
      controller = c;
    },
    async pull(c) {
      try {
        const next = await reader.read();
        if (ended) return; // expired meanwhile: the stream is already errored
        if (next.done) {
          end();
          c.close();
        } else c.enqueue(next.value);
      } catch (error) {
        if (end()) c.error(error);
      }
    },
    async cancel(reason) {
      end();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
