/**
 * ReadGate: the read rate per key (token bucket under fake time) and the
 * heavy-read slots per key and in total, with the errors the HTTP layer maps
 * to 429 / 503 + Retry-After; deadlineBody, a pull-only relay that ends a
 * body not read to its end within its deadline; StepPacer, which yields a
 * read's steps to the runtime once their time budget is spent; and the READ_*
 * and METRICS_* bounds of the configuration.
 */
import { describe, expect, it } from "vitest";
import { OverloadedError, RateLimitedError } from "../errors.ts";
import { FakeClock } from "../testing/with-app.ts";
import { ReadGate, type ReadLimits } from "./read-gate.ts";
import { deadlineBody, ReadDeadlineError } from "./deadline-body.ts";
import { StepPacer } from "./step-pacer.ts";
import { loadConfig } from "../config.ts";

const LIMITS: ReadLimits = {
  ratePerSecond: 2,
  burst: 3,
  maxConcurrentPerKey: 2,
  maxConcurrent: 3,
  timeoutMs: 1000,
};

function refusal(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a refusal");
}

describe("ReadGate", () => {
  it("allows a key its burst of reads, then refuses with 429, Retry-After and RateLimit headers until it refills", () => {
    const clock = new FakeClock();
    const gate = new ReadGate(clock, LIMITS);
    expect([1, 2, 3].map(() => gate.charge("a")["RateLimit-Remaining"])).toEqual(["2", "1", "0"]);
    const error = refusal(() => gate.charge("a")) as RateLimitedError;
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error.status).toBe(429);
    expect(error.retryAfterSeconds).toBe(1);
    expect(error.headers).toEqual({
      "RateLimit-Limit": "3",
      "RateLimit-Remaining": "0",
      "RateLimit-Reset": "2",
    });
    // Another key has its own bucket.
    expect(gate.charge("b")["RateLimit-Remaining"]).toBe("2");
    clock.advance(500); // one read's worth at 2/s
    expect(gate.charge("a")["RateLimit-Remaining"]).toBe("0");
    expect(refusal(() => gate.charge("a"))).toBeInstanceOf(RateLimitedError);
    expect(gate.counters.rateLimited).toBe(2);
  });

  it("holds at most maxConcurrentPerKey heavy reads per key (429) and maxConcurrent in all (503)", () => {
    const gate = new ReadGate(new FakeClock(), LIMITS);
    const a1 = gate.enter("a");
    gate.enter("a");
    const perKey = refusal(() => gate.enter("a")) as RateLimitedError;
    expect(perKey).toBeInstanceOf(RateLimitedError);
    expect([perKey.status, perKey.retryAfterSeconds]).toEqual([429, 1]);
    gate.enter("b");
    const total = refusal(() => gate.enter("c")) as OverloadedError;
    expect(total).toBeInstanceOf(OverloadedError);
    expect([total.status, total.retryAfterSeconds]).toEqual([503, 1]);
    expect([gate.active, gate.activeFor("a"), gate.activeFor("b")]).toEqual([3, 2, 1]);
    a1.release();
    a1.release(); // idempotent: frees one slot, not two
    expect([gate.active, gate.activeFor("a")]).toEqual([2, 1]);
    gate.enter("c");
    expect(refusal(() => gate.enter("a"))).toBeInstanceOf(OverloadedError);
    expect(gate.counters).toMatchObject({ busyKey: 1, busyTotal: 2 });
  });
});

/** A stream of `n` chunks of `size` bytes that counts its pulls and whether it was cancelled. */
function counted(n: number, size = 4) {
  const state = { pulls: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (state.pulls++ >= n) c.close();
      else c.enqueue(new Uint8Array(size));
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

const macrotask = () => new Promise((r) => setTimeout(r, 0));

describe("deadlineBody", () => {
  it("pulls the inner stream only when its reader asks, and ends once at its end", async () => {
    const { stream, state } = counted(3);
    const ends: string[] = [];
    const body = deadlineBody(stream, 60_000, {
      onEnd: () => ends.push("end"),
      onExpired: () => ends.push("x"),
    });
    for (let i = 0; i < 5; i++) await macrotask();
    expect(state.pulls).toBe(0); // nobody reads: nothing is produced
    const reader = body.getReader();
    expect((await reader.read()).value?.length).toBe(4);
    for (let i = 0; i < 5; i++) await macrotask();
    expect(state.pulls).toBe(1);
    let bytes = 4;
    for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length;
    expect(bytes).toBe(12);
    expect(ends).toEqual(["end"]);
  });

  it("errors a body still unread at its deadline, cancels the inner stream and ends once", async () => {
    const { stream, state } = counted(1000);
    const ends: string[] = [];
    const body = deadlineBody(stream, 50, {
      onEnd: () => ends.push("end"),
      onExpired: () => ends.push("expired"),
    });
    const reader = body.getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 120));
    await expect(reader.read()).rejects.toBeInstanceOf(ReadDeadlineError);
    expect(ends).toEqual(["expired", "end"]);
    expect(state.cancelled).toBe(true);
    expect(state.pulls).toBe(1);
  });

  it("ends once when the client goes away (cancel)", async () => {
    const { stream, state } = counted(10);
    const ends: string[] = [];
    const body = deadlineBody(stream, 60_000, {
      onEnd: () => ends.push("end"),
      onExpired: () => ends.push("x"),
    });
    const reader = body.getReader();
    await reader.read();
    await reader.cancel("gone");
    await new Promise((r) => setTimeout(r, 10));
    expect(ends).toEqual(["end"]);
    expect(state.cancelled).toBe(true);
  });
});

describe("StepPacer", () => {
  it("yields to the runtime only once its budget of thread time is spent", async () => {
    const pacer = new StepPacer(5);
    let timerRan = false;
    setTimeout(() => (timerRan = true), 0);
    await pacer.pace();
    expect([pacer.yields, timerRan]).toEqual([0, false]); // within budget: no yield, the timer waits
    const start = performance.now();
    while (performance.now() - start < 6) { /* a step of 6 ms */ }
    await pacer.pace();
    expect([pacer.yields, timerRan]).toEqual([1, true]); // the timer queued meanwhile has run
    await pacer.pace();
    expect(pacer.yields).toBe(1);
  });
});

describe("read limits configuration", () => {
  it("defaults, and one clear line for a bad value", () => {
    const config = loadConfig({});
    expect(config.reads).toEqual({
      ratePerSecond: 100,
      burst: 200,
      maxConcurrentPerKey: 4,
      maxConcurrent: 16,
      timeoutMs: 300_000,
    });
    expect(config.metrics).toMatchObject({
      maxCells: 20_000_000,
      maxScanBuckets: 20_000_000,
      maxAnswerBytes: 64 * 2 ** 20,
    });
    expect(() => loadConfig({ READ_TIMEOUT_MS: "soon" })).toThrow(
      'Invalid configuration: READ_TIMEOUT_MS must be an integer from 1000 to 86400000 (got "soon")',
    );
    expect(() => loadConfig({ READ_MAX_CONCURRENT: "2" })).toThrow(
      "Invalid configuration: READ_MAX_CONCURRENT must be at least READ_MAX_CONCURRENT_PER_KEY (4)",
    );
    expect(() => loadConfig({ METRICS_MAX_ANSWER_BYTES: "100" })).toThrow(
      /METRICS_MAX_ANSWER_BYTES must be an integer/,
    );
  });
});
