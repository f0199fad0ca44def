/**
 * A commit's outcome (which events were new, which duplicates) comes from the write itself: each
 * id claim returns the seqs it took (`RETURNING`), so no read of `event_ids` follows the commit and
 * a commit with duplicates has no moment where it is durable but its outcome unknown. Reads of
 * `event_ids` fail throughout here; commits still answer exactly.
 */
import { describe, expect, it } from "vitest";
import { sqliteHarness } from "../../testing/sqlite-harness.ts";
import { withApp } from "../../testing/with-app.ts";
import { event } from "../store-contract.ts";
import type { SqlDriver } from "./sql-driver.ts";

/** The real driver, with every read of `event_ids` by id failing while `failing.on`. */
function failingOwners(failing: { on: boolean }) {
  return (driver: SqlDriver): SqlDriver => ({
    ...driver,
    all: (sql, args) =>
      failing.on && sql.includes("FROM event_ids WHERE id IN")
        ? Promise.reject(new Error("disk I/O error"))
        : driver.all(sql, args),
  });
}

describe("A commit with duplicates", () => {
  it("knows its outcome from its own claims, without reading event_ids back", async () => {
    const failing = { on: true };
    const { store, cleanup } = await sqliteHarness("auto", { wrapDriver: failingOwners(failing) }).open();
    try {
      expect((await store.commitEvents([event("a")])).outcomes).toEqual(["accepted"]);
      const { outcomes, firstSeq } = await store.commitEvents([
        event("a"),
        event("b"),
        event("b"),
        event("c"),
      ]);
      expect(firstSeq).toBe(2);
      expect(outcomes).toEqual(["duplicate", "accepted", "duplicate", "accepted"]);
      failing.on = false;
      expect(await store.findExistingEventIds(["a", "b", "c", "d"])).toEqual(new Set(["a", "b", "c"]));
      expect((await store.getEvent("b"))?.seq).toBe(3);
      expect((await store.stats()).events).toBe(3);
    } finally {
      await cleanup();
    }
  });

  it("is answered exactly by the server, which keeps flushing rollups", async () => {
    const failing = { on: true };
    await withApp(async (f) => {
      const post = (ids: string[]) =>
        f.request("/v1/events", {
          method: "POST",
          body: JSON.stringify(ids.map((id) => ({ id, deviceId: "d", eventType: "t", value: 1 }))),
        });
      expect((await post(["a"])).status).toBe(202);
      const answer = await post(["a", "b", "b"]);
      expect(answer.status).toBe(202);
      expect((await answer.json()).data.totals).toEqual({
        received: 3,
        accepted: 1,
        duplicate: 2,
        rejected: 0,
      });
      expect((await (await f.request("/health")).json()).stream.halted).toBe(false);
      failing.on = false;
      expect(await f.server.store.findExistingEventIds(["a", "b"])).toEqual(new Set(["a", "b"]));
    }, { wrapDriver: failingOwners(failing) });
  });
});
