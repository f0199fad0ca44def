/**
 * A commit that is durable but whose outcome cannot be read back (the read of which claims held,
 * after a batch with duplicates) is reported as such, and the group committer tells its observer,
 * so that rollups never move past events they did not see.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../../adapters/sqlite/open-driver.ts";
import { GroupCommitter } from "../../ingest/group-committer.ts";
import { event } from "../store-contract.ts";
import { CommitOutcomeUnknownError } from "../store.ts";
import { createSqliteStore } from "./sqlite-store.ts";

describe("A commit whose outcome cannot be read back", () => {
  it("is stored, rejects with CommitOutcomeUnknownError, and the committer's observer hears of it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-outcome-"));
    const driver = await openSqlDriver(`file:${join(dir, "o.db")}`, {
      cacheMb: 16,
      walAutocheckpointPages: 1000,
      synchronous: "normal",
    });
    let failOwners = false;
    // The real driver, with its read of `event_ids` after a commit failing on demand.
    const store = await createSqliteStore({
      driver: {
        ...driver,
        all: (sql, args) =>
          failOwners && sql.includes("FROM event_ids WHERE id IN")
            ? Promise.reject(new Error("disk I/O error"))
            : driver.all(sql, args),
      },
    });
    try {
      await store.commitEvents([event("a")]);
      failOwners = true;
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
      failOwners = false;
      expect(await store.findExistingEventIds(["a", "b", "c"])).toEqual(new Set(["a", "b", "c"]));
      expect((await store.stats()).events).toBe(3);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
