import { hasNodeSqlite, sqliteHarness } from "../../testing/sqlite-harness.ts";
import { describe, expect, it } from "vitest";
import { describeStoreContract, event } from "../store-contract.ts";
import { describePartitionContract } from "../partition-contract.ts";
import { describeStorageContract } from "../storage-contract.ts";
import { describeRollupSlotsContract } from "../rollup-slots-contract.ts";

describeStoreContract("SQLite file via @libsql/client", sqliteHarness("libsql"));
describePartitionContract("SQLite file via @libsql/client", sqliteHarness("libsql"));
describeStorageContract("SQLite file via @libsql/client", sqliteHarness("libsql"));
describeRollupSlotsContract("SQLite file via @libsql/client", sqliteHarness("libsql"));
// node:sqlite exists in Deno 2 and Node >= 22.5; `npm test` also runs this file under Deno.
describe.runIf(hasNodeSqlite)("node:sqlite", () => {
  describeStoreContract("SQLite file via node:sqlite", sqliteHarness("node-sqlite"));
  describePartitionContract("SQLite file via node:sqlite", sqliteHarness("node-sqlite"));
  describeStorageContract("SQLite file via node:sqlite", sqliteHarness("node-sqlite"));
  describeRollupSlotsContract("SQLite file via node:sqlite", sqliteHarness("node-sqlite"));
});
// The writer-worker driver needs node:sqlite and Web Workers: Deno.
describe.runIf(hasNodeSqlite && typeof Worker === "function")("node:sqlite with a writer worker", () => {
  describeStoreContract(
    "SQLite file via node:sqlite, commits on a worker",
    sqliteHarness("node-sqlite-worker"),
  );
  describePartitionContract(
    "SQLite file via node:sqlite, commits on a worker",
    sqliteHarness("node-sqlite-worker"),
  );
  describeStorageContract(
    "SQLite file via node:sqlite, commits on a worker",
    sqliteHarness("node-sqlite-worker"),
  );
  describeRollupSlotsContract(
    "SQLite file via node:sqlite, commits on a worker",
    sqliteHarness("node-sqlite-worker"),
  );
});

describe("SQLite migrations", () => {
  it("applies each version once and records it", async () => {
    const { store, reopen, cleanup } = await sqliteHarness("libsql").open();
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
