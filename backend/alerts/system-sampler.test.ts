import { describe, expect, it } from "vitest";
import { SystemSampler } from "./system-sampler.ts";

describe("SystemSampler", () => {
  it("reports the share of 5xx responses over the window, 0 without responses, null before two samples", () => {
    const s = new SystemSampler(() => 0, 60_000);
    s.sample(1000);
    expect(s.read("error_rate", 2000, 1000)).toBe(null);
    for (const status of [200, 201, 500, 404]) s.countResponse(status);
    s.sample(2000);
    expect(s.read("error_rate", 2000, 2000)).toBe(0.25);
    s.sample(3000);
    s.sample(4000);
    // The window (2 s, 4 s] starts after the responses: none in it.
    expect(s.read("error_rate", 2000, 4000)).toBe(0);
    expect(s.read("error_rate", 3000, 4000)).toBe(0.25);
  });

  it("reports the highest commit-queue fill sampled in the window", () => {
    let fill = 0.2;
    const s = new SystemSampler(() => fill, 60_000);
    s.sample(1000);
    fill = 0.95;
    s.sample(2000);
    fill = 0.1;
    s.sample(3000);
    expect(s.read("overload", 3000, 3000)).toBe(0.95);
    expect(s.read("overload", 1000, 3000)).toBe(0.1);
    expect(s.read("overload", 1000, 10_000)).toBe(null);
  });

  it("keeps samples only for its retention", () => {
    const s = new SystemSampler(() => 0.5, 5000);
    for (let t = 0; t <= 100_000; t += 1000) s.sample(t);
    expect(s.read("overload", 100_000, 100_000)).toBe(0.5);
    expect(s.read("overload", 1000, 90_000)).toBe(null);
  });
});
