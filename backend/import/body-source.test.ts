import { describe, expect, it } from "vitest";
import { RequestTimeoutError } from "../errors.ts";
import { bodySource } from "./body-source.ts";

/** A body that yields `chunk` every `everyMs` for ever (until cancelled). */
function trickling(
  chunk: string,
  everyMs: number,
): { body: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let cancelled = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setInterval(() => controller.enqueue(new TextEncoder().encode(chunk)), everyMs);
    },
    cancel() {
      cancelled = true;
      clearInterval(timer);
    },
  });
  return { body, cancelled: () => cancelled };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.byteLength;
  return bytes;
}

describe("bodySource", () => {
  it("fails with 408 when the bytes arrive slower than the minimum rate over a window", async () => {
    const { body, cancelled } = trickling("x", 20); // ~50 bytes/s
    let counted = 0;
    const stream = bodySource(body, {
      idleMs: 10_000,
      gzip: false,
      onBytes: (n) => (counted += n),
      minBytesPerSecond: 200,
      rateWindowMs: 300,
    });
    const error = await readAll(stream).catch((e) => e);
    expect(error).toBeInstanceOf(RequestTimeoutError);
    expect(error.status).toBe(408);
    expect(error.message).toMatch(
      /^Import body arrived at \d+ bytes\/s over 0\.3 s, below the minimum of 200 bytes\/s \(IMPORT_MIN_BYTES_PER_SEC\)$/,
    );
    expect(counted).toBeGreaterThanOrEqual(5);
    expect(counted).toBeLessThan(60);
    expect(cancelled()).toBe(true);
  });

  it("lets a body at or above the minimum rate through", async () => {
    const parts = Array.from({ length: 10 }, () => "y".repeat(100));
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = parts.shift();
        if (next === undefined) controller.close();
        else {
          await new Promise((r) => setTimeout(r, 20)); // 100 bytes per 20 ms: ~5,000 bytes/s
          controller.enqueue(new TextEncoder().encode(next));
        }
      },
    });
    const stream = bodySource(body, {
      idleMs: 10_000,
      gzip: false,
      onBytes: () => {},
      minBytesPerSecond: 1000,
      rateWindowMs: 50,
    });
    expect(await readAll(stream)).toBe(1000);
  });

  it("fails a waiting read with the signal's reason when the deadline passes, and cancels the body", async () => {
    const { body, cancelled } = trickling("z", 10);
    const deadline = new AbortController();
    const reason = new RequestTimeoutError(100, "import deadline");
    setTimeout(() => deadline.abort(reason), 100);
    const stream = bodySource(body, {
      idleMs: 10_000,
      gzip: false,
      onBytes: () => {},
      signal: deadline.signal,
    });
    expect(await readAll(stream).catch((e) => e)).toBe(reason);
    expect(cancelled()).toBe(true);
  });
});
