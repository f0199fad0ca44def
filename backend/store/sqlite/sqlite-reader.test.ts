/**
 * `openSqliteReader`: a second, query-only connection beside the writing store sees, in each
 * snapshot, the device names and day partitions the writer added after the reader opened, and
 * cannot write.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hasNodeSqlite } from "../../testing/sqlite-harness.ts";
import { event } from "../store-contract.ts";
import { createSqliteStore, openSqliteReader } from "./sqlite-store.ts";

const DAY = 86_400_000;
const T = Date.UTC(2026, 10, 20, 12);
const pragmas = { cacheMb: 8, walAutocheckpointPages: 1000, synchronous: "normal" as const };

describe.runIf(hasNodeSqlite)("SqliteReader", () => {
  it("sees names and partitions the writer added after it opened, and refuses writes", async () => {
    // Imported here: Node 20 has no node:sqlite, and this suite is skipped there.
    const { openNodeSqliteDriver } = await import("../../adapters/sqlite/node-sqlite-driver.ts");
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-reader-"));
    const url = `file:${join(dir, "r.db")}`;
    const writer = await createSqliteStore({ driver: openNodeSqliteDriver(url, pragmas) });
    try {
      await writer.commitEvents([event("a", { deviceId: "first", timestamp: T })]);
      const reader = await openSqliteReader({
        driver: openNodeSqliteDriver(url, { ...pragmas, queryOnly: true }),
      });
      // A new device (a new dictionary code) on a new day (a new partition), after the reader opened.
      await writer.commitEvents([event("b", { deviceId: "second", timestamp: T + 3 * DAY })]);
      const listed = await reader.snapshot(() =>
        reader.store.listEvents({ from: T - DAY, to: T + 5 * DAY, order: "asc", limit: 10 })
      );
      expect(listed.map((e) => [e.id, e.deviceId])).toEqual([["a", "first"], ["b", "second"]]);
      const second = await reader.snapshot(() =>
        reader.store.listEvents({
          deviceId: "second",
          from: T - DAY,
          to: T + 5 * DAY,
          order: "asc",
          limit: 10,
        })
      );
      expect(second.map((e) => e.id)).toEqual(["b"]);
      await expect(reader.snapshot(() => reader.store.commitEvents([event("c")]))).rejects.toThrow();
      expect(
        (await writer.listEvents({ from: T - DAY, to: T + 5 * DAY, order: "asc", limit: 10 })).map((e) =>
          e.id
        ),
      )
        .toEqual(["a", "b"]);
      await reader.store.close();
    } finally {
      await writer.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
