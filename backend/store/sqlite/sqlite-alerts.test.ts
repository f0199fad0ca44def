import { hasNodeSqlite, sqliteHarness } from "../../testing/sqlite-harness.ts";
import { describe } from "vitest";
import { describeAlertStoreContract } from "../alert-store-contract.ts";

describeAlertStoreContract("SQLite file via @libsql/client", sqliteHarness("libsql"));
describe.runIf(hasNodeSqlite)("node:sqlite", () => {
  describeAlertStoreContract("SQLite file via node:sqlite", sqliteHarness("node-sqlite"));
});
describe.runIf(hasNodeSqlite && typeof Worker === "function")("node:sqlite with a writer worker", () => {
  describeAlertStoreContract(
    "SQLite file via node:sqlite, commits on a worker",
    sqliteHarness("node-sqlite-worker"),
  );
});
