import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { createSqliteStore } from "../store/sqlite/sqlite-store.ts";
import { AlertCatalog } from "./catalog.ts";
import type { AlertInstance, AlertRule, OutboxItem, Receiver } from "./model.ts";
import { Notifier } from "./notifier.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");

const receiver = (id: string, groupBy: string[]): Receiver => ({
  id,
  name: id,
  url: `http://example.test/${id}`,
  groupWaitMs: 30_000,
  groupIntervalMs: 300_000,
  repeatIntervalMs: 3_600_000,
  groupBy,
  createdAt: NOW,
  updatedAt: NOW,
});

const firing = (n: number): AlertInstance => ({
  fingerprint: n.toString(16).padStart(16, "0"),
  ruleId: n % 2 ? "rule-a" : "rule-b",
  state: "firing",
  labels: { alertname: n % 2 ? "A" : "B", deviceId: `dev-${n % 5}` },
  annotations: { summary: `instance ${n}` },
  value: n,
  activeAt: NOW - 120_000,
  firedAt: NOW - 60_000,
  resolvedAt: null,
  lastTrueAt: NOW,
  keepFiringSince: null,
});

/**
 * Two notifier ticks (schedule, then render after groupWait) over 23 firing instances routed to
 * a receiver grouping by device and one grouping all: the outbox they leave, ids and payloads.
 */
async function outboxAfterTicks(sliceSize: number): Promise<OutboxItem[]> {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-notifier-"));
  const store = await createSqliteStore({
    driver: await openSqlDriver(`file:${join(dir, "s.db")}`, {
      cacheMb: 8,
      walAutocheckpointPages: 1000,
      synchronous: "normal",
      preference: "auto",
    }),
  });
  try {
    const catalog = new AlertCatalog();
    catalog.receivers.set("rcv-dev", receiver("rcv-dev", ["deviceId"]));
    catalog.receivers.set("rcv-all", receiver("rcv-all", []));
    catalog.rules.set("rule-a", { id: "rule-a", receiver: "rcv-dev" } as AlertRule);
    catalog.rules.set("rule-b", { id: "rule-b", receiver: "rcv-all" } as AlertRule);
    for (let n = 0; n < 23; n++) catalog.putInstance(firing(n));
    let ids = 0;
    const notifier = new Notifier({
      catalog,
      store: store.alerts,
      externalURL: "http://pulse.test",
      maxAlertsPerNotification: 100,
      maxPayloadBytes: 1 << 20,
      newId: () => `ntf_${String(++ids).padStart(32, "0")}`,
      sliceSize,
    });
    await notifier.tick(NOW);
    await notifier.tick(NOW + 30_000);
    return await store.alerts.listOutbox({ statuses: ["waiting", "pending", "skipped"], limit: 1000 });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("Notifier timer walk in slices", () => {
  it("leaves the same outbox (items, ids, rendered payloads) in slices of 1, 3 and whole", async () => {
    const whole = await outboxAfterTicks(1_000_000);
    // rcv-dev: the 11 odd instances over 5 devices → 5 groups; rcv-all: one group of the 12 even.
    expect(whole.length).toBe(6);
    expect(whole.every((o) => o.status === "pending" && o.payload !== null)).toBe(true);
    const alerts = whole.map((o) => (JSON.parse(o.payload!) as { alerts: unknown[] }).alerts.length);
    expect(alerts.sort((a, b) => a - b)).toEqual([2, 2, 2, 2, 3, 12]);
    expect(await outboxAfterTicks(1)).toEqual(whole);
    expect(await outboxAfterTicks(3)).toEqual(whole);
  });
});
