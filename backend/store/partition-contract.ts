/**
 * Contract tests for raw events spread over several days: every read is exact
 * at partition edges, dedup holds across days, seqs stay ordered across
 * partitions and are never reused. Run by each SQLite driver (see
 * sqlite-store.test.ts) next to `describeStoreContract`.
 */
import { describe, expect, it } from "vitest";
import type { StoredEvent } from "../../shared/event.ts";
import { event, type StoreHarness } from "./store-contract.ts";
import type { Store } from "./store.ts";

const DAY = 86_400_000;
/** Midnight UTC, 2026-11-22. */
export const MIDNIGHT = Date.parse("2026-11-22T00:00:00.000Z");

/** Events on both sides of two midnights, committed out of time order. */
export function edgeEvents() {
  const times = [
    MIDNIGHT + DAY - 1, // last ms of day 0
    MIDNIGHT, // first ms of day 0
    MIDNIGHT + DAY, // first ms of day 1
    MIDNIGHT - 1, // last ms of day -1
    MIDNIGHT + 2 * DAY + 5, // day 2
    MIDNIGHT + DAY, // a second event at the same ms as e2
  ];
  return times.map((t, i) =>
    event(`edge-${i}`, {
      timestamp: t,
      deviceId: i % 2 ? "dev-b" : "dev-a",
      metadata: { i },
      data: { n: i, text: "x".repeat(i) },
    })
  );
}

export function describePartitionContract(name: string, harness: StoreHarness): void {
  describe(`Day partitions: ${name}`, () => {
    async function withStore(fn: (s: Store, reopen: () => Promise<Store>) => Promise<void>) {
      const { store, reopen, cleanup } = await harness.open();
      try {
        await fn(store, reopen);
      } finally {
        await cleanup();
      }
    }

    it("dedups an id across days: the first commit wins whatever the second's timestamp", async () => {
      await withStore(async (store) => {
        const first = await store.commitEvents([event("same", { timestamp: MIDNIGHT + 10 })]);
        const again = await store.commitEvents([
          event("same", { timestamp: MIDNIGHT + 3 * DAY }),
          event("same", { timestamp: MIDNIGHT - 5 * DAY }),
          event("other", { timestamp: MIDNIGHT - 5 * DAY }),
        ]);
        expect(first.outcomes).toEqual(["accepted"]);
        expect(again.outcomes).toEqual(["duplicate", "duplicate", "accepted"]);
        expect((await store.getEvent("same"))?.timestamp).toBe(MIDNIGHT + 10);
        expect([...await store.findExistingEventIds(["same", "other", "none"])].sort()).toEqual([
          "other",
          "same",
        ]);
        expect((await store.stats()).events).toBe(2);
      });
    });

    it("reads across midnights exactly: list pages, time bounds, seq order, points", async () => {
      await withStore(async (store, reopen) => {
        const events = edgeEvents();
        const { firstSeq } = await store.commitEvents(events.slice(0, 3));
        await store.commitEvents(events.slice(3));
        const seqOf = (id: string) => firstSeq + Number(id.slice(5));
        // Newest first, ties by seq: pages of 2 through the keyset cursor cross every partition.
        const ids: string[] = [];
        let after: { timestamp: number; seq: number } | undefined;
        for (;;) {
          const page: StoredEvent[] = await store.listEvents({ limit: 2, after });
          if (page.length === 0) break;
          ids.push(...page.map((e) => e.id));
          const last = page[page.length - 1];
          after = { timestamp: last.timestamp, seq: last.seq };
        }
        expect(ids).toEqual(["edge-4", "edge-5", "edge-2", "edge-0", "edge-1", "edge-3"]);
        // Oldest first, the same pages backwards.
        const asc: string[] = [];
        after = undefined;
        for (;;) {
          const page: StoredEvent[] = await store.listEvents({
            limit: 4,
            after,
            order: "asc",
            from: MIDNIGHT - 1,
          });
          if (page.length === 0) break;
          asc.push(...page.map((e) => e.id));
          const last = page[page.length - 1];
          after = { timestamp: last.timestamp, seq: last.seq };
        }
        expect(asc).toEqual([...ids].reverse());
        // [MIDNIGHT, MIDNIGHT + DAY): exactly day 0, both of its edge events.
        expect((await store.listEvents({ from: MIDNIGHT, to: MIDNIGHT + DAY, limit: 10 })).map((e) => e.id))
          .toEqual(["edge-0", "edge-1"]);
        expect(
          (await store.listEvents({ from: MIDNIGHT - 1, to: MIDNIGHT + DAY + 1, limit: 10 })).map((e) =>
            e.id
          ),
        )
          .toEqual(["edge-5", "edge-2", "edge-0", "edge-1", "edge-3"]);
        expect((await store.listEvents({ deviceId: "dev-b", limit: 10 })).map((e) => e.id))
          .toEqual(["edge-5", "edge-1", "edge-3"]);
        // Seq order across partitions, from any position.
        expect((await store.eventsAfter(0, 100)).map((p) => p.seq)).toEqual(
          events.map((_, i) => firstSeq + i),
        );
        expect((await store.eventsAfter(firstSeq + 1, 3)).map((p) => p.seq)).toEqual(
          [2, 3, 4].map((i) => firstSeq + i),
        );
        const full = await store.readEventsAfter(firstSeq + 3, 10);
        expect(full.map((e) => e.id)).toEqual(["edge-4", "edge-5"]);
        expect(full[0]).toEqual({ ...events[4], seq: seqOf("edge-4") });
        expect((await store.eventPointsSince(MIDNIGHT + DAY, 10)).map((p) => p.seq))
          .toEqual([seqOf("edge-2"), seqOf("edge-4"), seqOf("edge-5")]);
        const scanned = await store.scanEventPoints({
          eventType: "temperature",
          from: MIDNIGHT - 1,
          to: MIDNIGHT + DAY,
          limit: 10,
        });
        expect(scanned.map((p) => p.seq).sort((a, b) => a - b)).toEqual(
          [seqOf("edge-0"), seqOf("edge-1"), seqOf("edge-3")].sort((a, b) => a - b),
        );
        expect(
          (await store.scanEventPoints({ eventType: "temperature", from: 0, to: 1e15, limit: 4 })).length,
        )
          .toBe(4);
        // Reopened: the same partitions are found, and seqs continue after the highest.
        await store.close();
        const again = await reopen();
        try {
          expect((await again.listEvents({ limit: 10 })).map((e) => e.id)).toEqual(
            ["edge-4", "edge-5", "edge-2", "edge-0", "edge-1", "edge-3"],
          );
          expect((await again.commitEvents([event("later", { timestamp: MIDNIGHT - 3 * DAY })])).firstSeq)
            .toBe(firstSeq + events.length);
          expect(await again.getEvent("edge-3")).toEqual({ ...events[3], seq: seqOf("edge-3") });
        } finally {
          await again.close();
        }
      });
    });
  });
}
