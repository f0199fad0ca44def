/**
 * The request body of an import as a byte stream: counted as it arrives,
 * inflated when gzip-encoded, and guarded by an idle timeout instead of the
 * total body timeout of ordinary requests, so a long import lives as long as
 * bytes keep coming. The timer runs only while a read is waiting for the
 * client (never while the import itself holds reading back), and fires after
 * `idleMs` without a byte: the body is cancelled and the read fails with 408.
 *
 * Bytes that keep coming are not enough: a client trickling one byte per idle
 * period would hold an import slot for ever. So the time spent waiting for the
 * client is also measured in windows of `RATE_WINDOW_MS`, and a window whose
 * average is below `minBytesPerSecond` fails the read with 408; and `signal`
 * (the import's total deadline) fails a waiting read at once with its reason.
 */
import { AppError, RequestTimeoutError, ValidationError } from "../errors.ts";

/** Waiting time over which the upload rate is averaged, ms. */
export const RATE_WINDOW_MS = 10_000;

export interface BodySourceOptions {
  idleMs: number;
  gzip: boolean;
  /** Called with the size of each chunk as received (before inflating). */
  onBytes(n: number): void;
  /** Slowest average accepted over each `rateWindowMs` of waiting, bytes/s (0 or absent: off). */
  minBytesPerSecond?: number;
  /** The averaging window, ms (default `RATE_WINDOW_MS`; tests shorten it). */
  rateWindowMs?: number;
  /** Aborted at the import's deadline; a waiting read then fails with `signal.reason`. */
  signal?: AbortSignal;
}

/** Wraps `body` as described in the module comment. */
export function bodySource(
  body: ReadableStream<Uint8Array>,
  options: BodySourceOptions,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const minRate = options.minBytesPerSecond ?? 0;
  const windowMs = options.rateWindowMs ?? RATE_WINDOW_MS;
  const signal = options.signal;
  const aborted = signal ? abortPromise(signal) : null;
  let windowWaitMs = 0;
  let windowBytes = 0;
  const counted = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RequestTimeoutError(options.idleMs)), options.idleMs);
      });
      const waitStarted = Date.now();
      try {
        signal?.throwIfAborted();
        const next = await Promise.race(aborted ? [reader.read(), idle, aborted] : [reader.read(), idle]);
        if (next.done) controller.close();
        else {
          options.onBytes(next.value.byteLength);
          if (minRate > 0) {
            windowWaitMs += Date.now() - waitStarted;
            windowBytes += next.value.byteLength;
            if (windowWaitMs >= windowMs) {
              const rate = (windowBytes * 1000) / windowWaitMs;
              if (rate < minRate) throw tooSlow(rate, minRate, windowMs);
              windowWaitMs = 0;
              windowBytes = 0;
            }
          }
          controller.enqueue(next.value);
        }
      } catch (error) {
        reader.cancel().catch(() => {});
        controller.error(error);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  if (!options.gzip) return counted;
  return counted.pipeThrough(
    new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
  );
}

function abortPromise(signal: AbortSignal): Promise<never> {
  const promise = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  promise.catch(() => {}); // raced only while a read waits
  return promise;
}

function tooSlow(rate: number, minRate: number, windowMs: number): RequestTimeoutError {
  return new RequestTimeoutError(
    windowMs,
    `Import body arrived at ${Math.floor(rate)} bytes/s over ${windowMs / 1000} s, ` +
      `below the minimum of ${minRate} bytes/s (IMPORT_MIN_BYTES_PER_SEC)`,
  );
}

/** Reads `stream` chunk by chunk; a failure that is not ours becomes a 400 (corrupt gzip, aborted upload). */
export async function* readChunks(
  stream: ReadableStream<Uint8Array>,
  gzip: boolean,
): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        throw error instanceof AppError ? error : unreadable(gzip);
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** The 400 for a body stream that failed for a reason that is not an `AppError`. */
export function unreadable(gzip: boolean): ValidationError {
  return gzip
    ? new ValidationError("Request body is not valid gzip (corrupt or truncated)", [
      { field: "body", message: "invalid gzip stream" },
    ])
    : new ValidationError("Request body could not be read", [{ field: "body", message: "read failed" }]);
}
