import { describe, expect, it } from "vitest";
import { FakeClock } from "../testing/with-app.ts";
import { RateLimiter } from "./rate-limiter.ts";

const limit = { ratePerSecond: 100, burst: 500 };

describe("RateLimiter", () => {
  it("starts full, takes tokens per event and refills at the rate", () => {
    const clock = new FakeClock(0);
    const rl = new RateLimiter(clock);
    expect(rl.take("k", 300, limit)).toEqual({
      allowed: true,
      limit: 500,
      remaining: 200,
      resetSeconds: 3,
      retryAfterSeconds: null,
    });
    expect(rl.take("k", 250, limit)).toEqual({
      allowed: false,
      limit: 500,
      remaining: 200,
      resetSeconds: 3,
      retryAfterSeconds: 1,
    });
    clock.advance(500); // +50 tokens → 250
    expect(rl.take("k", 250, limit)).toEqual({
      allowed: true,
      limit: 500,
      remaining: 0,
      resetSeconds: 5,
      retryAfterSeconds: null,
    });
    expect(rl.take("k", 1, limit)).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1 });
    clock.advance(10);
    expect(rl.take("k", 1, limit)).toMatchObject({ allowed: true, remaining: 0 });
    clock.advance(2_000); // refills to 200.x
    expect(rl.take("k", 300, limit)).toMatchObject({ allowed: false, remaining: 200, retryAfterSeconds: 1 });
    clock.advance(1_000);
    expect(rl.take("k", 300, limit)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("never lets a bucket exceed its burst, and keeps keys apart", () => {
    const clock = new FakeClock(0);
    const rl = new RateLimiter(clock);
    rl.take("a", 500, limit);
    clock.advance(60_000);
    expect(rl.take("a", 501, limit)).toEqual({
      allowed: false,
      limit: 500,
      remaining: 500,
      resetSeconds: 0,
      retryAfterSeconds: null,
    });
    expect(rl.take("b", 500, limit)).toMatchObject({ allowed: true, remaining: 0 });
    expect(rl.take("a", 500, limit)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("computes Retry-After from the missing tokens", () => {
    const clock = new FakeClock(0);
    const rl = new RateLimiter(clock);
    rl.take("k", 500, { ratePerSecond: 10, burst: 500 });
    expect(rl.take("k", 35, { ratePerSecond: 10, burst: 500 })).toMatchObject({
      allowed: false,
      retryAfterSeconds: 4,
    });
  });
});
