import { describe, expect, it } from "vitest";
import { DeadlineQueue } from "./deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("DeadlineQueue", () => {
  it("settles as the work does and forgets settled entries at once", async () => {
    const q = new DeadlineQueue(1000);
    const ok = q.race(Promise.resolve(7), () => new Error("late"));
    const failed = q.race(Promise.reject(new Error("boom")), () => new Error("late"));
    expect(q.size).toBe(2);
    expect(await ok).toBe(7);
    await expect(failed).rejects.toThrow("boom");
    expect(q.size).toBe(0);
  });

  it("expires work that outlives the timeout, in order, and only that work", async () => {
    const q = new DeadlineQueue(30);
    const never = new Promise<number>(() => {});
    const expired: string[] = [];
    const first = q.race(never, () => (expired.push("first"), new Error("first timed out")));
    await sleep(10);
    const second = q.race(never, () => (expired.push("second"), new Error("second timed out")));
    const quick = q.race(sleep(5).then(() => "quick"), () => new Error("quick timed out"));
    expect(await quick).toBe("quick");
    await expect(first).rejects.toThrow("first timed out");
    expect(expired).toEqual(["first"]); // the second is not due yet
    await expect(second).rejects.toThrow("second timed out");
    expect(expired).toEqual(["first", "second"]);
    expect(q.size).toBe(0);
  });

  it("ignores work that settles after it expired", async () => {
    const q = new DeadlineQueue(10);
    let settle!: (v: string) => void;
    const late = q.race(new Promise<string>((r) => (settle = r)), () => new Error("timed out"));
    await expect(late).rejects.toThrow("timed out");
    settle("too late");
    await sleep(1);
    expect(q.size).toBe(0);
  });
});
