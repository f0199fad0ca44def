import { describe, expect, it } from "vitest";
import { mapBounded } from "./bounded.ts";

/** A call that resolves (or rejects) only when told to, recording how many run at once. */
function gatedCalls() {
  const gates: { item: number; settle: (ok: boolean) => void }[] = [];
  let running = 0;
  let most = 0;
  const fn = (item: number) =>
    new Promise<string>((resolve, reject) => {
      running++;
      most = Math.max(most, running);
      let settled = false;
      gates.push({
        item,
        settle: (ok) => {
          if (settled) return;
          settled = true;
          running--;
          if (ok) resolve(`r${item}`);
          else reject(new Error(`item ${item} failed`));
        },
      });
    });
  const tick = () => new Promise((r) => setTimeout(r, 0));
  return { fn, gates, tick, most: () => most };
}

describe("mapBounded", () => {
  it("keeps at most `limit` calls in flight, starts the next as one ends, and returns results in order", async () => {
    const g = gatedCalls();
    const done = mapBounded([1, 2, 3, 4, 5, 6, 7], 3, g.fn);
    await g.tick();
    expect(g.gates.map((x) => x.item)).toEqual([1, 2, 3]);
    g.gates[1].settle(true); // item 2 ends first: item 4 starts
    await g.tick();
    expect(g.gates.map((x) => x.item)).toEqual([1, 2, 3, 4]);
    for (let i = 0; i < 7; i++) {
      await g.tick();
      for (const x of g.gates) if (x.item !== 2) x.settle(true);
    }
    expect(await done).toEqual(["r1", "r2", "r3", "r4", "r5", "r6", "r7"]);
    expect(g.most()).toBe(3);
  });

  it("rejects with the first failure and starts no further calls", async () => {
    const g = gatedCalls();
    const done = mapBounded([1, 2, 3, 4, 5], 2, g.fn);
    const outcome = done.catch((e: Error) => e.message);
    await g.tick();
    g.gates[0].settle(false);
    g.gates[1].settle(true);
    expect(await outcome).toBe("item 1 failed");
    await g.tick();
    expect(g.gates.map((x) => x.item)).toEqual([1, 2]);
  });

  it("answers an empty list with no calls", async () => {
    const g = gatedCalls();
    expect(await mapBounded([], 4, g.fn)).toEqual([]);
    expect(g.gates).toEqual([]);
  });
});
