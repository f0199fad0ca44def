import { describe, expect, it } from "vitest";
import { FakeClock } from "../testing/with-app.ts";
import { IngestCounters } from "./ingest-counters.ts";
import { RateLimiter } from "./rate-limiter.ts";

describe("IngestCounters", () => {
  it("counts outcomes, commits (last and mean of the recent ones) and validation failures", () => {
    const c = new IngestCounters();
    c.onOutcomes(["accepted", "duplicate", "accepted"]);
    c.onCommit(3);
    c.onCommit(1);
    const validator = c.countingValidator({
      validate: (item: unknown, _now: number) => ({ ok: item === "good" }),
    });
    validator.validate("good", 0);
    validator.validate("bad", 0);
    expect(c.snapshot()).toEqual({
      accepted: 2,
      duplicate: 1,
      rejected: 1,
      rateLimited: 0,
      commits: 2,
      lastCommitEvents: 1,
      meanCommitEvents: 2,
    });
  });

  it("counts refused events of the limiter, not too-large requests, and keeps the limiter's behaviour", () => {
    const c = new IngestCounters();
    const clock = new FakeClock();
    const limiter = c.countingLimiter(new RateLimiter(clock));
    const limit = { ratePerSecond: 1, burst: 5 };
    expect(limiter.take("k", 4, limit).allowed).toBe(true);
    expect(limiter.take("k", 3, limit).allowed).toBe(false); // 429: counted
    expect(limiter.take("k", 9, limit).retryAfterSeconds).toBeNull(); // over the burst: 413, not counted
    expect(c.rateLimited).toBe(3);
    clock.advance(2000);
    expect(limiter.take("k", 3, limit).allowed).toBe(true);
  });
});
