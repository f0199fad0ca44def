import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe } from "vitest";
import { type DriverPreference, openSqlDriver } from "../../adapters/sqlite/open-driver.ts";
import { describeAlertStoreContract } from "../alert-store-contract.ts";
import { createSqliteStore } from "./sqlite-store.ts";

const tuning = { cacheMb: 16, walAutocheckpointPages: 1000, synchronous: "normal" as const };

function harness(preference: DriverPreference) {
  return {
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "pulsestream-alerts-"));
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

describeAlertStoreContract("SQLite file via @libsql/client", harness("libsql"));
describe.runIf(hasNodeSqlite)("node:sqlite", () => {
  describeAlertStoreContract("SQLite file via node:sqlite", harness("node-sqlite"));
});
describe.runIf(hasNodeSqlite && typeof Worker === "function")("node:sqlite with a writer worker", () => {
  describeAlertStoreContract(
    "SQLite file via node:sqlite, commits on a worker",
    harness("node-sqlite-worker"),
  );
});
