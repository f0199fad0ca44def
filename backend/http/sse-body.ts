/**
 * The body of one Server-Sent Events response as a pull stream.
 *
 * Bytes are handed to the runtime only when it asks for more, and the runtime
 * asks once the previous chunk has gone to the socket (Node's adapter waits
 * for `drain`; Deno's HTTP server polls the body when the connection can
 * write). So a client that does not read makes the runtime stop asking,
 * instead of making it buffer without bound: what the server holds for such
 * a client is what the hub holds (bounded in bytes) plus one chunk.
 *
 * `send` resolves when its chunk was taken and the runtime asked again (the
 * chunk left the runtime's hands), so the hub counts a batch until then.
 * `end` queues a final frame and ends the response once it was taken, or
 * fails the stream after `graceMs`, which makes the runtime drop the
 * connection: Node destroys the socket at once; Deno drops it once the bytes
 * it already handed to the socket are written — it offers no way to abort a
 * connection whose peer stopped reading, so such a socket lingers, holding
 * only the kernel's buffer, until the peer reads or goes away.
 */

const PING = new TextEncoder().encode(": ping\n\n");

interface Chunk {
  bytes: Uint8Array;
  /** Resolves the `send` that queued it (absent for pings and the final frame). */
  taken?: () => void;
}

export class SseBody {
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #pending: Chunk[] = [];
  /** Chunks handed to the runtime whose `send` resolves at its next request. */
  #handedOver: Chunk[] = [];
  /** Resolves the runtime's waiting request for data. */
  #wake: (() => void) | null = null;
  #ending = false;
  #reason = "";
  #ended = false;
  #graceTimer: ReturnType<typeof setTimeout> | null = null;

  #heartbeat: ReturnType<typeof setInterval>;
  readonly #failToEnd: boolean;

  /**
   * `onEnd` runs once, when the response is over (ended, failed, or cancelled by the client).
   * With `failToEnd`, the body ends by failing (see `end`), else by closing normally. A `: ping`
   * comment is offered every `heartbeatMs` (see `ping`).
   */
  constructor(private readonly onEnd: () => void, options: { failToEnd: boolean; heartbeatMs: number }) {
    this.#failToEnd = options.failToEnd;
    this.#heartbeat = setInterval(() => this.ping(PING), options.heartbeatMs);
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#pull(),
      cancel: () => this.#finish(),
    }, { highWaterMark: 0 });
  }

  /** Whether the client has not yet taken everything queued for it. */
  get backlogged(): boolean {
    return this.#pending.length > 0;
  }

  /** Queues `bytes`; resolves when the runtime took them and asked for more (or the body ended). */
  send(bytes: Uint8Array): Promise<void> {
    if (this.#ending) return Promise.resolve();
    return new Promise((resolve) => {
      this.#pending.push({ bytes, taken: resolve });
      this.#wake?.();
    });
  }

  /** Queues a heartbeat unless the client still has something to take (then it needs none). */
  ping(bytes: Uint8Array): void {
    if (this.#ending || this.#pending.length > 0) return;
    this.#pending.push({ bytes });
    this.#wake?.();
  }

  /**
   * Queues `finalBytes`, then ends the response once they were taken, or fails it after `graceMs`
   * if they were not. A failed body makes the runtime drop the connection. A body that ends
   * normally ends the connection too where the runtime honours `Connection: close` (Node); where
   * it does not (Deno keeps it open for a next request), `failToEnd` fails it after the final
   * bytes were taken instead, so no socket is left held for nothing.
   */
  end(finalBytes: Uint8Array | null, graceMs: number, reason: string): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#reason = reason;
    for (const c of this.#pending) c.taken?.();
    if (finalBytes) this.#pending.push({ bytes: finalBytes });
    this.#wake?.();
    if (this.#ended) return;
    this.#graceTimer = setTimeout(() => this.#fail(), graceMs);
  }

  async #pull(): Promise<void> {
    for (const c of this.#handedOver.splice(0)) c.taken?.();
    while (this.#pending.length === 0 && !this.#ended) {
      if (this.#ending) {
        // Everything, the final frame included, was taken.
        if (this.#failToEnd) this.#fail();
        else this.#close();
        return;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = null;
    }
    if (this.#ended) return;
    const chunk = this.#pending.shift()!;
    this.#controller.enqueue(chunk.bytes);
    this.#handedOver.push(chunk);
  }

  #close(): void {
    try {
      this.#controller.close();
    } catch {
      // already closed
    }
    this.#finish();
  }

  #fail(): void {
    if (this.#ended) return;
    const error = new Error(`live stream closed: ${this.#reason}`);
    error.stack = error.message; // one line where the runtime logs it
    try {
      this.#controller.error(error);
    } catch {
      // already failed
    }
    this.#finish();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#graceTimer !== null) clearTimeout(this.#graceTimer);
    clearInterval(this.#heartbeat);
    for (const c of [...this.#pending, ...this.#handedOver]) c.taken?.();
    this.#pending = [];
    this.#handedOver = [];
    this.#wake?.();
    this.onEnd();
  }
}
