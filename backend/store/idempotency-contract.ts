/**
 * The Store contract's part on idempotency records: committed with the events, predictions checked
 * inside the commit, expired records replaced. Run by `describeStoreContract` for every store.
 */
import { expect, it } from "vitest";
import { StoreUnavailableError } from "../errors.ts";
import { event, T0 } from "./store-contract.ts";
import { type IdempotencyRecord, StalePredictionError, type Store } from "./store.ts";

/** The record of an idempotent request of key `idemKey` predicting that `id` is new, 1 s TTL. */
function predictedRecord(idemKey: string, id: string, createdAt = T0): IdempotencyRecord {
  return {
    keyId: "k",
    idemKey,
    fingerprint: `f-${idemKey}`,
    status: 202,
    body: `{"id":"${id}"}`,
    createdAt,
    expiresAt: createdAt + 1000,
    predictedNewIds: [id],
  };
}

export function idempotencyContractTests(
  withStore: (fn: (s: Store, reopen: () => Promise<Store>) => Promise<void>) => Promise<void>,
): void {
  it("commits idempotency records in the events' transaction and finds stored ids", async () => {
    await withStore(async (store) => {
      const record = {
        keyId: "k",
        idemKey: "i",
        fingerprint: "f",
        status: 202,
        body: "{}",
        createdAt: T0,
        expiresAt: T0 + 1000,
      };
      expect((await store.commitEvents([event("r1"), event("r1")], [record])).outcomes).toEqual([
        "accepted",
        "duplicate",
      ]);
      expect(await store.getIdempotencyRecord("k", "i", T0)).toEqual(record);
      expect(await store.getIdempotencyRecord("k", "i", T0 + 1000)).toBeNull();
      expect(await store.findExistingEventIds(["r1", "nope"])).toEqual(new Set(["r1"]));
      await store.close();
      await expect(store.commitEvents([event("r2")], [{ ...record, idemKey: "j" }])).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
    });
  });

  it("checks every predicted record in the commit: stale ones fail it by index, nothing stored", async () => {
    await withStore(async (store) => {
      // Known to the store: a record of key "used", the event id "taken", a record of key "old"
      // expired at T0 and one of key "soon" that expires at T0 + 100.
      await store.commitEvents([event("taken")], [
        { ...predictedRecord("used", "x"), predictedNewIds: undefined },
        { ...predictedRecord("old", "y"), expiresAt: T0, predictedNewIds: undefined },
        { ...predictedRecord("soon", "z"), expiresAt: T0 + 100, predictedNewIds: undefined },
      ]);
      const ids = ["p0", "p1", "p2", "p3", "p4"]; // five records: two multi-row chunks (4 + 1)
      const events = ids.map((id) => event(id));
      const fresh = [
        predictedRecord("a", "p0"),
        predictedRecord("b", "p1"),
        predictedRecord("c", "p2"),
        predictedRecord("d", "p3"),
        predictedRecord("old", "p4"),
      ];
      const cases: [Record<number, IdempotencyRecord>, number[]][] = [
        [{ 1: predictedRecord("used", "p1"), 3: predictedRecord("c", "taken") }, [1, 3]],
        [{ 4: predictedRecord("used", "p4") }, [4]],
        // "soon" is unexpired at T0, when record 0 was made, though not at T0 + 500.
        [{ 0: predictedRecord("soon", "p0"), 2: predictedRecord("e", "p2", T0 + 500) }, [0]],
      ];
      for (const [stale, named] of cases) {
        const records = fresh.map((r, i) => stale[i] ?? r);
        const error = await store.commitEvents(events, records).catch((e) => e);
        expect(error).toBeInstanceOf(StalePredictionError);
        expect(error.records).toEqual(named);
        expect(await store.findExistingEventIds(ids)).toEqual(new Set());
        expect(await store.getIdempotencyRecord("k", "a", T0)).toBeNull();
      }
      expect((await store.commitEvents(events, fresh)).outcomes).toEqual(Array(5).fill("accepted"));
      for (const r of fresh) {
        const { predictedNewIds: _, ...stored } = r;
        expect(await store.getIdempotencyRecord("k", r.idemKey, T0)).toEqual(stored);
      }
      expect((await store.stats()).events).toBe(6);
    });
  });

  it("fails a commit whose predicted ids are claimed inside it first; replaces an expired record", async () => {
    await withStore(async (store) => {
      // Two predicted records for one id: only one request can have it accepted. Neither is
      // stored, so the store cannot name which (an empty list: every prediction retries).
      let error = await store.commitEvents([event("x"), event("x")], [
        predictedRecord("a", "x"),
        predictedRecord("b", "x"),
      ])
        .catch((e) => e);
      expect(error).toBeInstanceOf(StalePredictionError);
      expect(error.records).toEqual([]);
      // Another request's event in the same commit has the predicted id: the record is named.
      error = await store.commitEvents([event("plain"), event("y"), event("y")], [
        predictedRecord("c", "y"),
      ])
        .catch((e) => e);
      expect(error).toBeInstanceOf(StalePredictionError);
      expect(error.records).toEqual([0]);
      expect(await store.findExistingEventIds(["x", "y", "plain"])).toEqual(new Set());
      expect(await store.getIdempotencyRecord("k", "a", T0)).toBeNull();
      expect(await store.getIdempotencyRecord("k", "c", T0)).toBeNull();
      // A key whose record expired is used again: the new record replaces it.
      expect((await store.commitEvents([event("z1")], [predictedRecord("d", "z1")])).outcomes).toEqual([
        "accepted",
      ]);
      const again = predictedRecord("d", "z2", T0 + 1000);
      expect((await store.commitEvents([event("z2")], [again])).outcomes).toEqual(["accepted"]);
      const { predictedNewIds: _, ...stored } = again;
      expect(await store.getIdempotencyRecord("k", "d", T0 + 1000)).toEqual(stored);
      expect((await store.stats()).events).toBe(2);
    });
  });
}
