import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { type DriverPreference, openSqlDriver } from "../../adapters/sqlite/open-driver.ts";
import { describeStoreContract, event } from "../store-contract.ts";
import { describePartitionContract } from "../partition-contract.ts";
import { describeStorageContract } from "../storage-contract.ts";
import { createSqliteStore } from "./sqlite-store.ts";

const tuning = { cacheMb: 16, walAutocheckpointPages: 1000, synchronous: "normal" as const };

function harness(preference: DriverPreference) {
  return {
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "pulsestream-store-"));
      const url = `file:${join(dir, "store.db")}`;
      const openStore = async () =>
        createSqliteStore({ driver: await openSqlDriver(url, { ...tuning, preference }) });
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

const hasNodeSqlite = await import("node:sqlite").then(() => true, () => false);

describeStoreContract("SQLite file via @libsql/client", harness("libsql"));
describePartitionContract("SQLite file via @libsql/client", harness("libsql"));
describeStorageContract("SQLite file via @libsql/client", harness("libsql"));
// node:sqlite exists in Deno 2 and Node >= 22.5; `npm test` also runs this file under Deno.
describe.runIf(hasNodeSqlite)("node:sqlite", () => {
  describeStoreContract("SQLite file via node:sqlite", harness("node-sqlite"));
  describePartitionContract("SQLite file via node:sqlite", harness("node-sqlite"));
  describeStorageContract("SQLite file via node:sqlite", harness("node-sqlite"));
});
// The writer-worker driver needs node:sqlite and Web Workers: Deno.
describe.runIf(hasNodeSqlite && typeof Worker === "function")("node:sqlite with a writer worker", () => {
  describeStoreContract("SQLite file via node:sqlite, commits on a worker", harness("node-sqlite-worker"));
  describePartitionContract(
    "SQLite file via node:sqlite, commits on a worker",
    harness("node-sqlite-worker"),
  );
  describeStorageContract(
    "SQLite file via node:sqlite, commits on a worker",
    harness("node-sqlite-worker"),
  );
});

describe("SQLite migrations", () => {
  it("applies each version once and records it", async () => {
    const { store, reopen, cleanup } = await harness("libsql").open();
    try {
      await store.commitEvents([event("m1")]);
      await store.close();
      const again = await reopen();
      expect((await again.stats()).events).toBe(1);
      await again.close();
    } finally {
      await cleanup();
    }
  });
});
