/**
 * The compact row layout (event-encoding.ts, event-dictionary.ts) on every SQLite driver of the
 * runtime: ids of every form stay exact and apart, names beyond the dictionary's caps are stored
 * as themselves and read back the same, large payloads are compressed, a read racing a drop reads
 * nothing of the dropped day, and a drop deletes its rows in bounded transactions.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type DriverPreference, openSqlDriver } from "../../adapters/sqlite/open-driver.ts";
import { zlibPayloadCodec } from "../../adapters/sqlite/zlib-payload-codec.ts";
import { StoreUnavailableError } from "../../errors.ts";
import { hasNodeSqlite } from "../../testing/sqlite-harness.ts";
import { type DriverHooks, hookedDriver } from "../../testing/store-faults.ts";
import { MIDNIGHT } from "../partition-contract.ts";
import { noise } from "../storage-contract.ts";
import { event } from "../store-contract.ts";
import type { Store } from "../store.ts";
import type { SqlDriver } from "./sql-driver.ts";
import { createSqliteStore, type SqliteStoreOptions } from "./sqlite-store.ts";

const DAY = 86_400_000;
const tuning = { cacheMb: 16, walAutocheckpointPages: 1000, synchronous: "normal" as const };
const drivers: DriverPreference[] = [
  "libsql",
  ...(hasNodeSqlite ? ["node-sqlite" as const] : []),
  ...(hasNodeSqlite && typeof Worker === "function" ? ["node-sqlite-worker" as const] : []),
];

type Open = (options?: Omit<SqliteStoreOptions, "driver">, hooks?: DriverHooks) => Promise<Store>;

/** `fn` gets a way to open (and reopen) a store on one file, and that file's last driver. */
async function withFile(
  preference: DriverPreference,
  fn: (open: Open, driver: () => SqlDriver) => Promise<void>,
) {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-compact-"));
  let last: SqlDriver | null = null;
  let store: Store | null = null;
  const open: Open = async (options = { payloadCodec: zlibPayloadCodec }, hooks = {}) => {
    await store?.close();
    last = await openSqlDriver(`file:${join(dir, "store.db")}`, { ...tuning, preference });
    store = await createSqliteStore({ ...options, driver: hookedDriver(last, hooks) });
    return store;
  };
  try {
    await fn(open, () => last!);
  } finally {
    await (store as Store | null)?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

const stored = (driver: SqlDriver, column: string) =>
  driver.all<{ t: string; n: number }>(
    `SELECT typeof(${column}) AS t, length(${column}) AS n FROM events_20261122 ORDER BY seq`,
  ).then((rows) => rows.map((r) => `${r.t}:${r.n}`));

describe.each(drivers)("Compact rows (%s)", (preference) => {
  it("tells duplicates from the claims' returned seqs, reading no owners back", async () => {
    await withFile(preference, async (open) => {
      const asked: number[] = [];
      const store = await open(undefined, {
        beforeRead: (sql) => {
          if (sql.includes("FROM event_ids WHERE id IN")) asked.push(sql.split("unhex(").length - 1);
        },
      });
      const ids = Array.from({ length: 600 }, (_, i) => `e-${i}`);
      await store.commitEvents([event(ids[300], { timestamp: MIDNIGHT })]);
      // 600 events claim in chunks of 256, 256, 64, 16 and 8: the resend of e-300 and the second
      // e-310 (a duplicate inside the commit) both fall in the second chunk.
      const events = ids.map((id, i) => event(i === 310 ? ids[305] : id, { timestamp: MIDNIGHT + i }));
      const { outcomes } = await store.commitEvents(events);
      const expected = ids.map((_, i) => (i === 300 || i === 310 ? "duplicate" : "accepted"));
      expect(outcomes).toEqual(expected);
      expect(asked).toEqual([]);
    });
  });

  it("stores a canonical lowercase UUID as its 16 bytes, every other id as text, all exact and apart", async () => {
    await withFile(preference, async (open, driver) => {
      const store = await open();
      const lower = "0190b2c4-1234-7abc-8def-0123456789ab";
      const ids = [lower, lower.toUpperCase(), lower.replaceAll("-", ""), `{${lower}}`, "plain-1"];
      const events = ids.map((id, i) => event(id, { timestamp: MIDNIGHT + i }));
      expect((await store.commitEvents([...events, event(lower, { timestamp: MIDNIGHT + 9 })])).outcomes)
        .toEqual(["accepted", "accepted", "accepted", "accepted", "accepted", "duplicate"]);
      expect(await stored(driver(), "id")).toEqual(["blob:16", "text:36", "text:32", "text:38", "text:7"]);
      const again = await open();
      expect((await again.commitEvents(ids.map((id) => event(id, { timestamp: MIDNIGHT + DAY })))).outcomes)
        .toEqual(Array(5).fill("duplicate"));
      for (const [i, id] of ids.entries()) {
        expect(await again.getEvent(id)).toEqual({ ...events[i], seq: i + 1 });
      }
      expect(await again.findExistingEventIds([...ids, lower.replace("0", "1")])).toEqual(new Set(ids));
      expect((await again.listEvents({ order: "asc", limit: 10 })).map((e) => e.id)).toEqual(ids);
    });
  });

  it("codes names up to the dictionary's caps, stores the rest as themselves, reads and filters both", async () => {
    await withFile(preference, async (open, driver) => {
      const caps = { device: 2, type: 1, tags: 2 };
      const long = { note: "n".repeat(600) };
      const events = [
        event("a", { deviceId: "dev-a", eventType: "t1", metadata: { site: "x", n: 1 } }),
        event("b", { deviceId: "dev-b", eventType: "t2", metadata: { site: "y", ok: true } }),
        event("c", { deviceId: "42", eventType: "t1", metadata: { site: "z", n: 1 } }),
        event("d", { deviceId: "dev-a", eventType: "t2", metadata: long }),
        event("e", { deviceId: "42", eventType: "t1", metadata: { site: "x", n: 1 } }),
      ].map((e, i) => ({ ...e, timestamp: MIDNIGHT + 1000 + i }));
      const store = await open({ payloadCodec: zlibPayloadCodec, dictionaryCaps: caps });
      await store.commitEvents(events);
      // Codes for the first names of each kind, the names' bytes beyond the caps (or 512 chars).
      expect(await stored(driver(), "device")).toEqual([
        "integer:1",
        "integer:1",
        "blob:2",
        "integer:1",
        "blob:2",
      ]);
      expect(await stored(driver(), "type")).toEqual([
        "integer:1",
        "blob:2",
        "integer:1",
        "blob:2",
        "integer:1",
      ]);
      expect(await stored(driver(), "metadata")).toEqual([
        "integer:1",
        "integer:1",
        `blob:${JSON.stringify(events[2].metadata).length}`,
        `blob:${JSON.stringify(long).length}`,
        "integer:1",
      ]);
      const reopened = await open({ payloadCodec: zlibPayloadCodec, dictionaryCaps: caps });
      await reopened.commitEvents([
        event("f", { deviceId: "dev-c", eventType: "t1", timestamp: MIDNIGHT + 2000 }),
      ]);
      expect((await reopened.storage.layout()).dictionary).toMatchObject({
        devices: 2,
        eventTypes: 1,
        tagSets: 2,
      });
      const ids = async (q: Parameters<Store["listEvents"]>[0]) =>
        (await reopened.listEvents({ ...q, order: "asc" })).map((e) => e.id);
      expect((await reopened.listEvents({ order: "asc", limit: 10 })).slice(0, 5))
        .toEqual(events.map((e, i) => ({ ...e, seq: i + 1 })));
      expect(await ids({ deviceId: "42", limit: 10 })).toEqual(["c", "e"]);
      expect(await ids({ deviceId: "dev-a", limit: 10 })).toEqual(["a", "d"]);
      expect(await ids({ deviceId: "dev-c", eventType: "t1", limit: 10 })).toEqual(["f"]);
      expect(await ids({ eventType: "t2", limit: 10 })).toEqual(["b", "d"]);
      expect(await ids({ eventType: "none", limit: 10 })).toEqual([]);
      const scan = async (metadata: [string, string][], eventType = "t1") =>
        (await reopened.scanEventPoints({
          eventType,
          metadata,
          from: MIDNIGHT,
          to: MIDNIGHT + DAY,
          limit: 10,
        }))
          .map((p) => p.seq).sort();
      expect(await scan([["site", "x"]])).toEqual([1, 5]);
      expect(await scan([["n", "1"]])).toEqual([1, 3, 5]);
      expect(await scan([["site", "z"], ["n", "1"]])).toEqual([3]);
      expect(await scan([["ok", "true"]], "t2")).toEqual([2]);
      expect(await scan([["note", long.note]], "t2")).toEqual([4]);
      expect(
        (await reopened.scanEventPoints({
          eventType: "t1",
          deviceIds: ["42", "dev-c"],
          from: 0,
          to: 1e15,
          limit: 9,
        }))
          .map((p) => p.seq).sort(),
      ).toEqual([3, 5, 6]);
    });
  });

  it("compresses large payloads and reads them back exactly; without the codec it says so", async () => {
    await withFile(preference, async (open, driver) => {
      const big = { rows: Array.from({ length: 60 }, (_, i) => ({ i, label: `reading ${i} ünïcødé ✓` })) };
      const random = { blob: noise(800) };
      const small = { n: 1 };
      const store = await open();
      const events = [big, random, small].map((data, i) =>
        event(`p-${i}`, { timestamp: MIDNIGHT + i, data })
      );
      await store.commitEvents(events);
      const types = await stored(driver(), "data");
      expect(types[0]).toMatch(/^blob:/);
      expect(Number(types[0].slice(5))).toBeLessThan(JSON.stringify(big).length / 4);
      expect(types.slice(1)).toEqual([`blob:${types[1].slice(5)}`, "text:7"]);
      expect(Number(types[1].slice(5))).toBeLessThan(800);
      expect(await store.readEventsAfter(0, 10)).toEqual(events.map((e, i) => ({ ...e, seq: i + 1 })));
      const plain = await open({});
      expect(await plain.getEvent("p-2")).toEqual({ ...events[2], seq: 3 });
      await expect(plain.getEvent("p-0")).rejects.toBeInstanceOf(StoreUnavailableError);
    });
  });

  it("reads a day dropped while the read runs as empty, instead of failing on the missing table", async () => {
    await withFile(preference, async (open) => {
      let dropBefore: string | null = null;
      const store: Store = await open(undefined, {
        async beforeRead(sql) {
          if (dropBefore === null || !sql.includes(dropBefore)) return;
          dropBefore = null;
          await store.storage.dropEventPartition(MIDNIGHT + DAY);
        },
      });
      await store.commitEvents([
        event("d0-a", { timestamp: MIDNIGHT + 1 }),
        event("d0-b", { timestamp: MIDNIGHT + 2 }),
      ]);
      // Day 1 holds one event (its id is forgotten by each drop, so it is accepted again each time).
      const reset = async () => {
        expect((await store.commitEvents([event("d1-a", { timestamp: MIDNIGHT + DAY + 1 })])).outcomes)
          .toEqual(["accepted"]);
        dropBefore = "FROM events_20261123";
      };
      await reset();
      expect((await store.listEvents({ limit: 10 })).map((e) => e.id)).toEqual(["d0-b", "d0-a"]);
      await reset();
      expect((await store.eventsAfter(0, 10)).map((p) => p.seq)).toEqual([1, 2]);
      await reset();
      expect((await store.readEventsAfter(0, 10)).map((e) => e.id)).toEqual(["d0-a", "d0-b"]);
      await reset();
      expect(await store.getEvent("d1-a")).toBeNull();
      await reset();
      expect(await store.scanEventPoints({ eventType: "temperature", from: 0, to: 1e15, limit: 10 }))
        .toHaveLength(2);
      await reset();
      expect((await store.eventPointsSince(MIDNIGHT, 10)).map((p) => p.seq)).toEqual([1, 2]);
      expect(dropBefore).toBeNull();
    });
  });

  it("drops a day in transactions of at most chunkRows rows with their ids, commits in between", async () => {
    await withFile(preference, async (open) => {
      const steps: number[] = [];
      let commitsBetween = 0;
      let dropping = false;
      const store: Store = await open(undefined, {
        afterWrite(statements, changes) {
          const at = statements.findIndex((s) => /^DELETE FROM retired_events_/.test(s.sql));
          if (at >= 0) {
            expect(statements[at - 1].sql).toMatch(/^DELETE FROM event_ids/);
            expect(changes[at - 1]).toBe(changes[at]);
            steps.push(changes[at]);
            // A commit between two steps: the drop's transactions leave the writer to others.
            if (steps.length === 2) {
              void store.commitEvents([event(`between-${steps.length}`, { timestamp: MIDNIGHT + DAY })]);
            }
          } else if (dropping && statements.some((s) => /INTO event_ids/.test(s.sql))) commitsBetween++;
        },
      });
      await store.commitEvents(
        Array.from({ length: 25 }, (_, i) => event(`r-${i}`, { timestamp: MIDNIGHT + i })),
      );
      dropping = true;
      expect(await store.storage.dropEventPartition(MIDNIGHT, { chunkRows: 7 })).toEqual({ rows: 25 });
      dropping = false;
      expect(steps).toEqual([7, 7, 7, 4]);
      expect(commitsBetween).toBe(1);
      expect((await store.storage.layout()).eventIds.rows).toBe(1);
    });
  });
});
