/**
 * A commit that is durable but whose outcome cannot be read back (the read of which claims held,
 * after a batch with duplicates) is reported as such, and the group committer tells its observer,
 * so that rollups never move past events they did not see.
 */
import { describe, expect, it } from "vitest";
import { GroupCommitter } from "../../ingest/group-committer.ts";
import { sqliteHarness } from "../../testing/sqlite-harness.ts";
import { withApp } from "../../testing/with-app.ts";
import { event } from "../store-contract.ts";
import { CommitOutcomeUnknownError } from "../store.ts";
import type { SqlDriver } from "./sql-driver.ts";

/** The real driver, with its read of `event_ids` after a commit failing while `failing.on`. */
function failingOwners(failing: { on: boolean }) {
  return (driver: SqlDriver): SqlDriver => ({
    ...driver,
    all: (sql, args) =>
      failing.on && sql.includes("FROM event_ids WHERE id IN")
        ? Promise.reject(new Error("disk I/O error"))
        : driver.all(sql, args),
  });
}

describe("A commit whose outcome cannot be read back", () => {
  it("is stored, rejects with CommitOutcomeUnknownError, and the committer's observer hears of it", async () => {
    const failing = { on: false };
    const { store, cleanup } = await sqliteHarness("auto", { wrapDriver: failingOwners(failing) }).open();
    try {
      await store.commitEvents([event("a")]);
      failing.on = true;
      await expect(store.commitEvents([event("a"), event("b")])).rejects.toBeInstanceOf(
        CommitOutcomeUnknownError,
      );
      const uncertain: string[][] = [];
      const committed: string[][] = [];
      const committer = new GroupCommitter(store, { maxBatchEvents: 10, maxQueuedEvents: 10, lingerMs: 0 }, {
        onCommitted: (events) => committed.push(events.map((e) => e.id)),
        onCommitUncertain: (events) => uncertain.push(events.map((e) => e.id)),
      });
      await expect(committer.submit([event("b"), event("c")])).rejects.toBeInstanceOf(
        CommitOutcomeUnknownError,
      );
      await committer.close();
      expect(uncertain).toEqual([["b", "c"]]);
      expect(committed).toEqual([]);
      failing.on = false;
      expect(await store.findExistingEventIds(["a", "b", "c"])).toEqual(new Set(["a", "b", "c"]));
      expect((await store.stats()).events).toBe(3);
    } finally {
      await cleanup();
    }
  });

  it("stops rollup flushes in the server until a restart, and answers 503 for a request whose events are stored", async () => {
    const failing = { on: false };
    await withApp(async (f) => {
      const post = (ids: string[]) =>
        f.request("/v1/events", {
          method: "POST",
          body: JSON.stringify(ids.map((id) => ({ id, deviceId: "d", eventType: "t", value: 1 }))),
        });
      expect((await post(["a"])).status).toBe(202);
      const halted = async () => (await (await f.request("/health")).json()).stream.halted;
      expect(await halted()).toBe(false);
      failing.on = true;
      expect((await post(["a", "b"])).status).toBe(503);
      failing.on = false;
      expect(await halted()).toBe(true);
      expect(await f.server.store.findExistingEventIds(["a", "b"])).toEqual(new Set(["a", "b"]));
      const retry = await (await post(["a", "b"])).json();
      expect(retry.data.totals).toEqual({ received: 2, accepted: 0, duplicate: 2, rejected: 0 });
    }, { wrapDriver: failingOwners(failing) });
  });
});
