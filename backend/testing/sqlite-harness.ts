/**
 * The store-contract harness for the SQLite store: each `open()` is a fresh
 * database file in a temp directory on the given driver, reopenable, removed
 * by `cleanup()`. Shared by every contract suite the SQLite drivers run.
 */
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { type DriverPreference, openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { zlibPayloadCodec } from "../adapters/sqlite/zlib-payload-codec.ts";
import { createSqliteStore, type SqliteStoreOptions } from "../store/sqlite/sqlite-store.ts";
import type { SqlDriver } from "../store/sqlite/sql-driver.ts";

const tuning = { cacheMb: 16, walAutocheckpointPages: 1000, synchronous: "normal" as const };

/** Whether this runtime has node:sqlite (Deno 2, Node ≥ 22.5). */
export const hasNodeSqlite = await import("node:sqlite").then(() => true, () => false);

/**
 * `options`: store options besides the driver (the payload codec is zlib's unless given), and
 * `wrapDriver` to wrap the real driver (e.g. to make one kind of statement fail on demand).
 */
export function sqliteHarness(
  preference: DriverPreference,
  { wrapDriver = (d) => d, ...options }: Omit<SqliteStoreOptions, "driver"> & {
    wrapDriver?: (driver: SqlDriver) => SqlDriver;
  } = {},
) {
  return {
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "pulsestream-store-"));
      const url = `file:${join(dir, "store.db")}`;
      const openStore = async () =>
        createSqliteStore({
          payloadCodec: zlibPayloadCodec,
          ...options,
          driver: wrapDriver(await openSqlDriver(url, { ...tuning, preference })),
        });
      const store = await openStore();
      return {
        store,
        reopen: openStore,
        cleanup: async () => {
          await store.close().catch(() => {});
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}
