import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../../adapters/sqlite/open-driver.ts";
import type { AlertInstance, AlertTransition, OutboxItem } from "../../alerts/model.ts";
import type { Store } from "../store.ts";
import { createSqliteStore } from "./sqlite-store.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");

async function withStore(fn: (store: Store, file: string) => Promise<void>, walAutocheckpointPages = 1000) {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-alerts-"));
  const file = join(dir, "s.db");
  const driver = await openSqlDriver(`file:${file}`, {
    cacheMb: 8,
    walAutocheckpointPages,
    synchronous: "normal",
    preference: "auto",
  });
  const store = await createSqliteStore({ driver });
  try {
    await fn(store, file);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const instance = (n: number, state: AlertInstance["state"], value: number): AlertInstance => ({
  fingerprint: n.toString(16).padStart(16, "0"),
  ruleId: `rule-${n % 3}`,
  state,
  labels: { deviceId: `dev-${n}` },
  annotations: { summary: `dev-${n} at ${value}` },
  value,
  activeAt: NOW,
  firedAt: state === "firing" ? NOW : null,
  resolvedAt: null,
  lastTrueAt: NOW,
  keepFiringSince: null,
});

/** The transition that made `i` pending, at `at`. */
const toPending = (i: AlertInstance, at: number): Omit<AlertTransition, "seq"> => ({
  at,
  ruleId: i.ruleId,
  fingerprint: i.fingerprint,
  labels: i.labels,
  from: "inactive",
  to: "pending",
  value: i.value,
});

const outboxItem = (n: number, groupKey: string): OutboxItem => ({
  id: `ntf_${String(n).padStart(32, "0")}`,
  receiverId: "rcv",
  groupKey,
  status: "waiting",
  payload: null,
  dueAt: NOW + n,
  attempts: 0,
  lastError: null,
  createdAt: NOW,
  updatedAt: NOW,
});

describe("SQLite alert changes (multi-row statements)", () => {
  it("writes 450 instances, transitions and outbox items as one row each would: every row, in order", async () => {
    await withStore(async (store) => {
      const pending = Array.from({ length: 450 }, (_, n) => instance(n, "pending", n));
      await store.alerts.applyAlertChanges({
        instances: pending,
        transitions: pending.map((i, n) => toPending(i, NOW + n)),
        // Items 0-399 each their own group; 400-449 share group "g-0" with item 0: only the first
        // waiting item of a group is kept (the partial unique index), as row by row.
        outbox: Array.from({ length: 450 }, (_, n) => outboxItem(n, `g-${n < 400 ? n : 0}`)),
      });
      // Rows of one statement that repeat a key replace the earlier one; deletes follow the inserts.
      await store.alerts.applyAlertChanges({
        instances: [instance(7, "firing", 70), instance(7, "firing", 71), instance(8, "firing", 80)],
        transitions: [],
        outbox: [],
        deleteInstances: [{
          ruleId: instance(8, "firing", 0).ruleId,
          fingerprint: instance(8, "firing", 0).fingerprint,
        }],
      });
      const stored = await store.alerts.loadAlertInstances();
      expect(stored.length).toBe(449);
      const byFp = new Map(stored.map((i) => [i.fingerprint, i]));
      expect(byFp.get(instance(7, "firing", 0).fingerprint)).toEqual(instance(7, "firing", 71));
      expect(byFp.has(instance(8, "firing", 0).fingerprint)).toBe(false);
      expect(byFp.get(instance(449, "pending", 449).fingerprint)).toEqual(instance(449, "pending", 449));
      const history = await store.alerts.listAlertTransitions({ limit: 1000 });
      expect(history.length).toBe(450);
      // Newest first: seqs follow the input order.
      expect(history.map((t) => t.value)).toEqual(Array.from({ length: 450 }, (_, n) => 449 - n));
      expect(history.map((t) => t.seq)).toEqual([...history.map((t) => t.seq)].sort((a, b) => b - a));
      expect((await store.alerts.outboxCounts()).waiting).toBe(400);
      const waiting = await store.alerts.listOutbox({ statuses: ["waiting"], limit: 1000 });
      expect(waiting.find((o) => o.groupKey === "g-0")!.id).toBe(outboxItem(0, "g-0").id);
    });
  });

  it("copies its WAL pages back into the database file once 2,000 rows were written since the last time", async () => {
    await withStore(async (store, file) => {
      const write = (from: number, n: number) => {
        const instances = Array.from({ length: n }, (_, k) => instance(from + k, "pending", from + k));
        return store.alerts.applyAlertChanges({
          instances,
          transitions: instances.map((i) => toPending(i, NOW)),
          outbox: [],
        });
      };
      // The automatic checkpoint is far (100,000 pages): in WAL mode the file changes only at a checkpoint.
      const before = statSync(file).size;
      await write(0, 900);
      expect(statSync(file).size).toBe(before);
      await write(900, 100);
      expect(statSync(file).size).toBeGreaterThan(before);
      expect((await store.alerts.loadAlertInstances()).length).toBe(1000);
    }, 100_000);
  });
});
