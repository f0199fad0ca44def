/**
 * The request body of an import as a byte stream: counted as it arrives,
 * inflated when gzip-encoded, and guarded by an idle timeout instead of the
 * total body timeout of ordinary requests, so a long import lives as long as
 * bytes keep coming. The timer runs only while a read is waiting for the
 * client (never while the import itself holds reading back), and fires after
 * `idleMs` without a byte: the body is cancelled and the read fails with 408.
 */
import { AppError, RequestTimeoutError, ValidationError } from "../errors.ts";

export interface BodySourceOptions {
  idleMs: number;
  gzip: boolean;
  /** Called with the size of each chunk as received (before inflating). */
  onBytes(n: number): void;
}

/** Wraps `body` as described in the module comment. */
export function bodySource(
  body: ReadableStream<Uint8Array>,
  options: BodySourceOptions,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const counted = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RequestTimeoutError(options.idleMs)), options.idleMs);
      });
      try {
        const next = await Promise.race([reader.read(), idle]);
        if (next.done) controller.close();
        else {
          options.onBytes(next.value.byteLength);
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
