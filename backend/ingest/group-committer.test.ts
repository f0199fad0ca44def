import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { OverloadedError } from "../errors.ts";
import { createSqliteStore } from "../store/sqlite/sqlite-store.ts";
import { event } from "../store/store-contract.ts";
import type { Store } from "../store/store.ts";
import { GroupCommitter, type GroupCommitterOptions } from "./group-committer.ts";

async function withCommitter(
  options: Partial<GroupCommitterOptions>,
  fn: (c: GroupCommitter, store: Store, commits: { events: number; requests: number }[]) => Promise<void>,
) {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-commit-"));
  const store = await createSqliteStore({
    driver: await openSqlDriver(`file:${join(dir, "c.db")}`, {
      cacheMb: 16,
      walAutocheckpointPages: 1000,
      synchronous: "normal" as const,
    }),
  });
  const commits: { events: number; requests: number }[] = [];
  const committer = new GroupCommitter(
    store,
    { maxBatchEvents: 1000, maxQueuedEvents: 10_000, lingerMs: 0, ...options },
    { onCommit: (i) => commits.push({ events: i.events, requests: i.requests }) },
  );
  try {
    await fn(committer, store, commits);
  } finally {
    await committer.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("GroupCommitter", () => {
  it("commits concurrent requests in one transaction and resolves each with its own outcomes", async () => {
    await withCommitter({}, async (committer, _store, commits) => {
      const results = await Promise.all([
        committer.submit([event("a"), event("b")]),
        committer.submit([event("c")]),
        committer.submit([event("a"), event("d")]),
      ]);
      expect(results).toEqual([["accepted", "accepted"], ["accepted"], ["duplicate", "accepted"]]);
      expect(commits).toEqual([{ events: 5, requests: 3 }]);
    });
  });

  it("never splits a request and caps a transaction at maxBatchEvents", async () => {
    await withCommitter({ maxBatchEvents: 4 }, async (committer, store, commits) => {
      const ids = (p: string, n: number) => Array.from({ length: n }, (_, i) => event(`${p}${i}`));
      await Promise.all([
        committer.submit(ids("x", 3)),
        committer.submit(ids("y", 3)),
        committer.submit(ids("z", 1)),
      ]);
      expect(commits).toEqual([{ events: 3, requests: 1 }, { events: 4, requests: 2 }]);
      expect((await store.stats()).events).toBe(7);
    });
  });

  it("refuses work beyond the bounded queue at once with OverloadedError and recovers after", async () => {
    await withCommitter({ maxQueuedEvents: 5 }, async (committer, store) => {
      const first = committer.submit([event("q1"), event("q2"), event("q3")]);
      expect(committer.queuedEvents).toBe(3);
      await expect(committer.submit([event("q4"), event("q5"), event("q6")])).rejects.toBeInstanceOf(
        OverloadedError,
      );
      expect(await first).toEqual(["accepted", "accepted", "accepted"]);
      expect(committer.queuedEvents).toBe(0);
      expect(await committer.submit([event("q4"), event("q5"), event("q6")])).toEqual([
        "accepted",
        "accepted",
        "accepted",
      ]);
      expect((await store.stats()).events).toBe(6);
    });
  });

  it("rejects every request of a failed transaction and commits none of it", async () => {
    await withCommitter({}, async (committer, store) => {
      expect(await committer.submit([event("ok")])).toEqual(["accepted"]);
      expect(committer.lastFailure).toBeNull();
      await store.close();
      const before = performance.now();
      const outcomes = await Promise.allSettled([
        committer.submit([event("f1")]),
        committer.submit([event("f2")]),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected"]);
      // Remembered for /readyz until a commit succeeds again.
      expect(committer.lastFailure!.at).toBeGreaterThanOrEqual(before);
      expect(committer.lastFailure!.error).toBe((outcomes[0] as PromiseRejectedResult).reason);
    });
  });

  it("drains queued work on close", async () => {
    await withCommitter({}, async (committer, store) => {
      const pending = committer.submit([event("late")]);
      await committer.close();
      expect(await pending).toEqual(["accepted"]);
      expect(await store.getEvent("late")).not.toBeNull();
    });
  });

  it("times the transaction alone, and a throwing commit observer never fails a durable commit", async () => {
    await withCommitter({}, async (committer, store) => {
      const seen: { durationMs: number; ok: boolean }[] = [];
      committer.observe({
        onCommitted: () => {
          const until = performance.now() + 300; // slow downstream processing
          while (performance.now() < until) { /* busy */ }
        },
        onCommit: (info) => {
          seen.push({ durationMs: info.durationMs, ok: info.ok });
          throw new Error("metrics broke");
        },
      });
      expect(await committer.submit([event("o1")])).toEqual(["accepted"]);
      expect(await committer.submit([event("o2")])).toEqual(["accepted"]);
      expect(seen.map((s) => s.ok)).toEqual([true, true]);
      // The 300 ms of stream processing after each commit are not in the commit's duration.
      for (const s of seen) expect(s.durationMs).toBeLessThan(300);
      expect(await store.getEvent("o2")).not.toBeNull();
    });
  });

  it("hands the next batch to the store while one commits (maxInFlight 2), reporting in commit order", async () => {
    await withCommitter({}, async (_unused, store) => {
      // The store's first commit answers only after the second has answered (and a macrotask
      // later), so the second batch must have been handed over while the first was in flight,
      // and its answer arrives first; the store itself runs them one after the other, as a
      // writer thread does.
      let calls = 0;
      let secondDone!: () => void;
      const second = new Promise<void>((resolve) => (secondDone = resolve));
      const held: Store = Object.create(store, {
        commitEvents: {
          value: async (...args: Parameters<Store["commitEvents"]>) => {
            const call = ++calls;
            const result = await store.commitEvents(...args);
            if (call === 2) secondDone();
            if (call === 1) await second.then(() => new Promise((resolve) => setTimeout(resolve, 5)));
            return result;
          },
        },
      });
      const heard: string[] = [];
      const committer = new GroupCommitter(held, {
        maxBatchEvents: 2,
        maxQueuedEvents: 100,
        lingerMs: 0,
        maxInFlight: 2,
      }, {
        onCommitted: (events, result) => heard.push(`commit ${result.firstSeq} ${events.map((e) => e.id)}`),
      });
      const r1 = committer.submit([event("x"), event("y")]).then((o) => (heard.push("r1"), o));
      const r2 = committer.submit([event("x"), event("z")]).then((o) => (heard.push("r2"), o));
      expect(await Promise.all([r1, r2])).toEqual([["accepted", "accepted"], ["duplicate", "accepted"]]);
      await committer.close();
      expect(calls).toBe(2);
      const firstSeq = Number(heard[0].split(" ")[1]);
      expect(heard).toEqual([`commit ${firstSeq} x,y`, "r1", `commit ${firstSeq + 2} x,z`, "r2"]);
    });
  });

  it("with two in flight, a failed first commit fails only its requests and the second is reported", async () => {
    await withCommitter({}, async (_unused, store) => {
      let calls = 0;
      const failing: Store = Object.create(store, {
        commitEvents: {
          value: (...args: Parameters<Store["commitEvents"]>) => {
            // The first throws at once (not even a promise): the chain of reports must go on.
            if (++calls === 1) throw new Error("store down");
            return store.commitEvents(...args);
          },
        },
      });
      const heard: string[] = [];
      const committer = new GroupCommitter(failing, {
        maxBatchEvents: 1,
        maxQueuedEvents: 100,
        lingerMs: 0,
        maxInFlight: 2,
      }, { onCommitted: (events) => heard.push(`commit ${events.map((e) => e.id)}`) });
      const r1 = committer.submit([event("f1")]).catch((e: Error) => e.message);
      const r2 = committer.submit([event("f2")]);
      const r3 = committer.submit([event("f3")]);
      expect(await Promise.all([r1, r2, r3])).toEqual(["store down", ["accepted"], ["accepted"]]);
      await committer.close();
      expect(heard).toEqual(["commit f2", "commit f3"]);
      expect(await store.findExistingEventIds(["f1", "f2", "f3"])).toEqual(new Set(["f2", "f3"]));
    });
  });
});
