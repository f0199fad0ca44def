/**
 * The one contract suite every `Store` implementation runs (see store.ts for
 * the contract). An implementation's test file calls `describeStoreContract`
 * with a factory that opens a fresh store, and a reopen that opens the same
 * database again (to check durability across close/open).
 */
import { describe, expect, it } from "vitest";
import type { EnrichedEvent } from "../../shared/event.ts";
import { StoreUnavailableError } from "../errors.ts";
import { type ApiKeyRecord, type ImportJobRecord, type Store } from "./store.ts";
import { Agg } from "../stream/aggregate.ts";
import { idempotencyContractTests } from "./idempotency-contract.ts";

export interface StoreHarness {
  /** Opens a new, empty store; `reopen` opens the same database again after `close`. */
  open(): Promise<{ store: Store; reopen: () => Promise<Store>; cleanup: () => Promise<void> }>;
}

export const T0 = Date.parse("2026-11-22T12:00:00.000Z");

export function event(id: string, overrides: Partial<EnrichedEvent> = {}): EnrichedEvent {
  return {
    id,
    deviceId: "dev-1",
    eventType: "temperature",
    value: 1.5,
    timestamp: T0,
    receivedAt: T0 + 5,
    partition: 3,
    metadata: null,
    data: null,
    ...overrides,
  };
}

function key(id: string, hash: string): ApiKeyRecord {
  return {
    id,
    name: id,
    keyHash: hash,
    scopes: ["ingest"],
    createdAt: T0,
    lastUsedAt: null,
    expiresAt: null,
    revokedAt: null,
    rateLimit: null,
  };
}

export function describeStoreContract(name: string, harness: StoreHarness): void {
  describe(`Store contract: ${name}`, () => {
    async function withStore(fn: (s: Store, reopen: () => Promise<Store>) => Promise<void>) {
      const { store, reopen, cleanup } = await harness.open();
      try {
        await fn(store, reopen);
      } finally {
        await cleanup();
      }
    }

    it("commits events and reports duplicates in input order, within and across calls", async () => {
      await withStore(async (store) => {
        expect((await store.commitEvents([event("a"), event("b"), event("a")])).outcomes).toEqual([
          "accepted",
          "accepted",
          "duplicate",
        ]);
        expect((await store.commitEvents([event("b"), event("c")])).outcomes).toEqual([
          "duplicate",
          "accepted",
        ]);
        expect((await store.stats()).events).toBe(3);
      });
    });

    idempotencyContractTests(withStore);

    it("keeps the first payload of an id", async () => {
      await withStore(async (store) => {
        await store.commitEvents([event("x", { value: 1 })]);
        await store.commitEvents([event("x", { value: 2, deviceId: "other" })]);
        expect(await store.getEvent("x")).toMatchObject({ value: 1, deviceId: "dev-1" });
      });
    });

    it("round-trips every field exactly", async () => {
      await withStore(async (store) => {
        const full = event("full", {
          value: -0.000123,
          metadata: { site: "b", n: 3, ok: false },
          data: { nested: { list: [1, "two", null, true] }, emoji: "🙂", quote: '"' },
        });
        const bare = event("bare", { value: null, metadata: null, data: null });
        await store.commitEvents([full, bare]);
        expect(await store.getEvent("full")).toEqual({ ...full, seq: expect.any(Number) });
        expect(await store.getEvent("bare")).toEqual({ ...bare, seq: expect.any(Number) });
        expect(await store.getEvent("none")).toBeNull();
      });
    });

    it("assigns strictly increasing seq in commit order", async () => {
      await withStore(async (store) => {
        await store.commitEvents([event("s1"), event("s2")]);
        await store.commitEvents([event("s3")]);
        const seqs = await Promise.all(["s1", "s2", "s3"].map(async (id) => (await store.getEvent(id))!.seq));
        expect(seqs[0]).toBeLessThan(seqs[1]);
        expect(seqs[1]).toBeLessThan(seqs[2]);
      });
    });

    it("keeps committed events across close and reopen", async () => {
      await withStore(async (store, reopen) => {
        await store.commitEvents([event("d1"), event("d2")]);
        await store.close();
        const again = await reopen();
        expect((await again.stats()).events).toBe(2);
        expect((await again.commitEvents([event("d1"), event("d3")])).outcomes).toEqual([
          "duplicate",
          "accepted",
        ]);
        await again.close();
      });
    });

    it("lists newest first with filters and a keyset position", async () => {
      await withStore(async (store) => {
        await store.commitEvents([
          event("l1", { timestamp: T0 + 1000, deviceId: "a" }),
          event("l2", { timestamp: T0 + 3000, deviceId: "b" }),
          event("l3", { timestamp: T0 + 2000, deviceId: "a", eventType: "humidity" }),
          event("l4", { timestamp: T0 + 2000, deviceId: "a" }),
        ]);
        const ids = async (q: Parameters<Store["listEvents"]>[0]) =>
          (await store.listEvents(q)).map((e) => e.id);
        expect(await ids({ limit: 10 })).toEqual(["l2", "l4", "l3", "l1"]);
        expect(await ids({ limit: 10, deviceId: "a" })).toEqual(["l4", "l3", "l1"]);
        expect(await ids({ limit: 10, eventType: "humidity" })).toEqual(["l3"]);
        expect(await ids({ limit: 10, from: T0 + 2000, to: T0 + 3000 })).toEqual(["l4", "l3"]);
        const l4 = (await store.getEvent("l4"))!;
        expect(await ids({ limit: 10, after: { timestamp: l4.timestamp, seq: l4.seq } })).toEqual([
          "l3",
          "l1",
        ]);
        expect(await ids({ limit: 2 })).toEqual(["l2", "l4"]);
      });
    });

    it("stores API keys by hash and refuses a second key with the same hash", async () => {
      await withStore(async (store) => {
        expect(await store.countApiKeys()).toBe(0);
        await store.createApiKey(key("k1", "h1"));
        expect(await store.findApiKeyByHash("h1")).toEqual(key("k1", "h1"));
        expect(await store.findApiKeyByHash("h2")).toBeNull();
        await expect(store.createApiKey(key("k2", "h1"))).rejects.toBeInstanceOf(StoreUnavailableError);
        expect(await store.countApiKeys()).toBe(1);
      });
    });

    it("lists, revokes (once) and touches keys", async () => {
      await withStore(async (store) => {
        await store.createApiKey({ ...key("k1", "h1"), createdAt: T0 });
        await store.createApiKey({ ...key("k2", "h2"), createdAt: T0 + 1 });
        expect((await store.listApiKeys()).map((k) => k.id)).toEqual(["k2", "k1"]);
        expect(await store.revokeApiKey("k1", T0 + 10)).toMatchObject({ id: "k1", revokedAt: T0 + 10 });
        expect(await store.revokeApiKey("k1", T0 + 20)).toMatchObject({ revokedAt: T0 + 10 });
        expect(await store.revokeApiKey("nope", T0)).toBeNull();
        await store.touchApiKey("k2", T0 + 30);
        expect(await store.getApiKey("k2")).toMatchObject({ lastUsedAt: T0 + 30, revokedAt: null });
        expect(await store.getApiKey("nope")).toBeNull();
      });
    });

    it("appends audit entries and lists them newest first with a position", async () => {
      await withStore(async (store) => {
        for (const action of ["a", "b", "c"]) {
          await store.appendAudit({
            at: T0,
            actor: "cli",
            action,
            target: "t",
            address: null,
            details: { n: action },
          });
        }
        const all = await store.listAudit({ limit: 10 });
        expect(all.map((e) => e.action)).toEqual(["c", "b", "a"]);
        expect(all[2]).toEqual({
          seq: all[2].seq,
          at: T0,
          actor: "cli",
          action: "a",
          target: "t",
          address: null,
          details: { n: "a" },
        });
        expect((await store.listAudit({ limit: 10, beforeSeq: all[1].seq })).map((e) => e.action)).toEqual([
          "a",
        ]);
      });
    });

    it("reports each accepted event's seq as firstSeq + index, in order across calls", async () => {
      await withStore(async (store) => {
        const a = await store.commitEvents([event("q1"), event("q2"), event("q1")]);
        const b = await store.commitEvents([event("q3")]);
        expect((await store.getEvent("q1"))!.seq).toBe(a.firstSeq);
        expect((await store.getEvent("q2"))!.seq).toBe(a.firstSeq + 1);
        expect((await store.getEvent("q3"))!.seq).toBe(b.firstSeq);
        expect(b.firstSeq).toBeGreaterThan(a.firstSeq + 2);
        expect((await store.eventsAfter(a.firstSeq, 10)).map((e) => e.seq)).toEqual([
          a.firstSeq + 1,
          b.firstSeq,
        ]);
        expect(await store.eventsAfter(b.firstSeq, 10)).toEqual([]);
      });
    });

    it("scans event points by type, devices, time and metadata (text, number, boolean)", async () => {
      await withStore(async (store) => {
        await store.commitEvents([
          event("m1", { metadata: { site: "north", floor: 2, ok: true } }),
          event("m2", { metadata: { site: "south", floor: 2.5, ok: false }, deviceId: "dev-2" }),
          event("m3", { metadata: null, timestamp: T0 + 10 }),
          event("m4", { eventType: "other" }),
        ]);
        const ids = async (q: Partial<Parameters<Store["scanEventPoints"]>[0]>) =>
          (await store.scanEventPoints({ eventType: "temperature", from: T0, to: T0 + 100, limit: 10, ...q }))
            .map((e) => e.seq).length;
        expect(await ids({})).toBe(3);
        expect(await ids({ deviceIds: ["dev-2"] })).toBe(1);
        expect(await ids({ to: T0 + 10 })).toBe(2);
        expect(await ids({ metadata: [["site", "north"]] })).toBe(1);
        expect(await ids({ metadata: [["floor", "2"]] })).toBe(1);
        expect(await ids({ metadata: [["floor", "2.5"]] })).toBe(1);
        expect(await ids({ metadata: [["ok", "false"]] })).toBe(1);
        expect(await ids({ metadata: [["ok", "true"], ["site", "north"]] })).toBe(1);
        expect(await ids({ metadata: [["site", "west"]] })).toBe(0);
        expect(await ids({ limit: 2 })).toBe(2);
        expect((await store.eventPointsSince(T0 + 5, 10)).map((e) => e.timestamp)).toEqual([T0 + 10]);
      });
    });

    it("merges rollup flushes into stored buckets atomically with the checkpoint", async () => {
      await withStore(async (store, reopen) => {
        const state = (values: number[], ts: number) => {
          const a = new Agg();
          values.forEach((v, i) => a.add(v, ts + i, ts + i));
          return a.toState();
        };
        expect(await store.rollupCheckpoint()).toBe(0);
        const bucket = { resolution: 60_000, eventType: "temperature", deviceId: "dev-1", start: T0 };
        const merged1 = await store.applyRollupFlush({
          rollups: [{ ...bucket, state: state([1, 2], T0) }, {
            ...bucket,
            deviceId: null,
            state: state([1, 2], T0),
          }],
          series: [{ eventType: "temperature", deviceId: "dev-1", state: state([1, 2], T0) }],
          checkpoint: 7,
        });
        expect(merged1.map((m) => m.count)).toEqual([2, 2]);
        // Prime the column cache, then merge a second delta into the same bucket.
        const cols1 = await store.readRollupColumns({
          ...bucket,
          deviceIds: ["dev-1"],
          from: T0,
          to: T0 + 60_000,
        });
        expect(Array.from(cols1[0].count)).toEqual([2]);
        const [merged2] = await store.applyRollupFlush({
          rollups: [{ ...bucket, state: state([-4], T0 + 30) }],
          series: [{ eventType: "temperature", deviceId: "dev-1", state: state([-4], T0 + 30) }],
          checkpoint: 9,
        });
        expect(Agg.fromState(merged2).value("min")).toBe(-4);
        expect(merged2.count).toBe(3);
        expect(await store.rollupCheckpoint()).toBe(9);
        const [cols] = await store.readRollupColumns({
          ...bucket,
          deviceIds: ["dev-1"],
          from: T0,
          to: T0 + 60_000,
        });
        expect({
          start: Array.from(cols.start),
          count: Array.from(cols.count),
          sum: Array.from(cols.sum),
          min: Array.from(cols.min),
          max: Array.from(cols.max),
          lastValue: Array.from(cols.lastValue),
        }).toEqual({ start: [T0], count: [3], sum: [-1], min: [-4], max: [2], lastValue: [-4] });
        await store.close();
        const again = await reopen();
        const rows = await again.readRollups({
          ...bucket,
          deviceIds: [null, "dev-1"],
          from: T0,
          to: T0 + 1,
          sketches: true,
        });
        expect(rows.map((r) => [r.deviceId, r.state.count])).toEqual([[null, 2], ["dev-1", 3]]);
        expect(Agg.fromState(rows[1].state).value("p50")).toBeCloseTo(1, 1);
        expect((await again.listSeries({ devices: true, limit: 10 })).map((s) => [s.deviceId, s.state.count]))
          .toEqual([["dev-1", 3]]);
        expect(await again.listSeries({ devices: false, limit: 10 })).toEqual([]);
        expect((await again.readRollupsEndingAfter(T0 + 59_999, [60_000])).length).toBe(2);
        expect(await again.readRollupsEndingAfter(T0 + 60_000, [60_000])).toEqual([]);
        expect(await again.rollupCheckpoint()).toBe(9);
        await again.close();
      });
    });

    it("saves import jobs (insert, then replace) and keeps them across reopen", async () => {
      await withStore(async (store, reopen) => {
        const job: ImportJobRecord = {
          id: "imp_0123456789abcdef0123456789abcdef",
          keyId: "k1",
          state: "running",
          format: "csv",
          bytesRead: 10,
          lines: 2,
          accepted: 1,
          duplicates: 0,
          rejected: 1,
          errors: [{ line: 3, field: "value", message: "value must be a finite number" }],
          failure: null,
          startedAt: T0,
          updatedAt: T0 + 1,
          finishedAt: null,
        };
        await store.saveImportJob(job);
        expect(await store.getImportJob(job.id)).toEqual(job);
        const done: ImportJobRecord = {
          ...job,
          state: "failed",
          bytesRead: 2 ** 40,
          errors: [...job.errors, { line: 9, index: 4, field: "event", message: "line is not valid JSON" }],
          failure: "interrupted",
          updatedAt: T0 + 2,
          finishedAt: T0 + 2,
        };
        await store.saveImportJob(done);
        expect(await store.getImportJob("imp_other")).toBeNull();
        await store.close();
        const again = await reopen();
        expect(await again.getImportJob(job.id)).toEqual(done);
        await again.close();
      });
    });

    it("reports failures as StoreUnavailableError, never a driver error", async () => {
      await withStore(async (store) => {
        await store.close();
        await expect(store.commitEvents([event("z")])).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
      });
    });
  });
}
