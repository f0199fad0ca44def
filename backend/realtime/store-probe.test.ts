import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { createSqliteStore } from "../store/sqlite/sqlite-store.ts";
import { event } from "../store/store-contract.ts";
import type { Store } from "../store/store.ts";
import { StoreProbe } from "./store-probe.ts";

describe("StoreProbe", () => {
  it("reports the real store's event count and health, one probe at a time", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-probe-"));
    const store = await createSqliteStore({
      driver: await openSqlDriver(`file:${join(dir, "p.db")}`, {
        cacheMb: 16,
        walAutocheckpointPages: 1000,
        synchronous: "normal" as const,
      }),
    });
    const probe = new StoreProbe(store);
    expect(probe.snapshot()).toEqual({
      health: { status: "unknown", database: "unknown" },
      store: { engine: store.engine, events: null, bytes: null },
    });
    const first = probe.refresh();
    expect(probe.refresh()).toBe(first); // still running: not asked twice
    await first;
    expect(probe.snapshot().health).toEqual({ status: "ok", database: "up" });
    expect(probe.snapshot().store.events).toBe(0);
    await store.commitEvents([event("a"), event("b")]);
    await probe.refresh();
    expect(probe.snapshot().store.events).toBe(2);
    expect(probe.snapshot().store.bytes).toBeGreaterThan(0);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("says the database is down when the ping fails", async () => {
    const failing = {
      engine: "sqlite",
      ping: () => Promise.reject(new Error("gone")),
      stats: () => Promise.reject(new Error("gone")),
    } as unknown as Store;
    const probe = new StoreProbe(failing);
    await probe.refresh();
    expect(probe.snapshot()).toEqual({
      health: { status: "error", database: "down" },
      store: { engine: "sqlite", events: null, bytes: null },
    });
  });
});
