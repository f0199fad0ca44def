/**
 * The contract suite of `AlertStore` (see alert-store.ts). A store
 * implementation's test file calls `describeAlertStoreContract` with the same
 * harness as `describeStoreContract`.
 */
import { describe, expect, it } from "vitest";
import type { AlertInstance, AlertRule, OutboxItem, Receiver, Silence } from "../alerts/model.ts";
import type { StoreHarness } from "./store-contract.ts";

const T0 = Date.parse("2026-11-22T12:00:00.000Z");

const rule = (id: string, createdAt: number): AlertRule => ({
  id,
  name: id,
  kind: "threshold",
  eventType: "temperature",
  filter: { metadata: { site: "berlin", floor: 3 } },
  aggregate: "p99",
  windowMs: 300_000,
  groupBy: "device",
  metric: null,
  op: ">=",
  threshold: 30.5,
  forMs: 60_000,
  keepFiringForMs: 0,
  severity: "critical",
  labels: { team: "ops" },
  annotations: { summary: "{{ $value }}" },
  receiver: "rcv_1",
  escalation: { receiver: "rcv_2", afterMs: 1_800_000 },
  enabled: true,
  createdAt,
  updatedAt: createdAt,
});

const instance = (fp: string, state: AlertInstance["state"]): AlertInstance => ({
  fingerprint: fp,
  ruleId: "rul_1",
  state,
  labels: { alertname: "A", deviceId: fp },
  annotations: { summary: "x" },
  value: 31,
  activeAt: T0,
  firedAt: state === "firing" ? T0 + 60_000 : null,
  resolvedAt: null,
  lastTrueAt: T0 + 60_000,
  keepFiringSince: null,
});

const item = (id: string, groupKey: string, status: OutboxItem["status"], dueAt: number): OutboxItem => ({
  id,
  receiverId: "rcv_1",
  groupKey,
  status,
  payload: status === "waiting" ? null : `{"n":"${id}"}`,
  dueAt,
  attempts: 0,
  lastError: null,
  createdAt: T0,
  updatedAt: T0,
});

export function describeAlertStoreContract(name: string, harness: StoreHarness): void {
  describe(`AlertStore contract: ${name}`, () => {
    it("stores rules, receivers and silences as given, replaces by id, deletes, and keeps them across reopen", async () => {
      const { store, reopen, cleanup } = await harness.open();
      try {
        const a = store.alerts;
        await a.saveRule(rule("rul_b", T0 + 1));
        await a.saveRule(rule("rul_a", T0 + 2));
        await a.saveRule({ ...rule("rul_b", T0 + 1), threshold: 99 });
        const receiver: Receiver = {
          id: "rcv_1",
          name: "ops",
          url: "https://hooks.example.com/a?token=x",
          groupWaitMs: 0,
          groupIntervalMs: 1000,
          repeatIntervalMs: 3_600_000,
          groupBy: [],
          createdAt: T0,
          updatedAt: T0,
        };
        await a.saveReceiver(receiver);
        const silence = (id: string, endsAt: number): Silence => ({
          id,
          matchers: [{ name: "deviceId", value: "s-.*", isRegex: true, isEqual: false }],
          startsAt: T0,
          endsAt,
          createdBy: "key_1",
          comment: "",
        });
        await a.saveSilence(silence("sil_1", T0 + 10));
        await a.saveSilence(silence("sil_2", T0 + 20));
        expect(await a.deleteRule("rul_missing")).toBe(false);
        await store.close();
        const again = await reopen();
        expect(await again.alerts.listRules()).toEqual([
          { ...rule("rul_b", T0 + 1), threshold: 99 },
          rule("rul_a", T0 + 2),
        ]);
        expect(await again.alerts.listReceivers()).toEqual([receiver]);
        expect((await again.alerts.listSilences()).map((s) => s.id)).toEqual(["sil_2", "sil_1"]);
        expect(await again.alerts.deleteRule("rul_b")).toBe(true);
        expect(await again.alerts.deleteReceiver("rcv_1")).toBe(true);
        expect((await again.alerts.listRules()).map((r) => r.id)).toEqual(["rul_a"]);
        expect(await again.alerts.listReceivers()).toEqual([]);
        await again.close();
      } finally {
        await cleanup();
      }
    });

    it("applies instances, transitions and outbox items together, keeping one waiting item per group", async () => {
      const { store, reopen, cleanup } = await harness.open();
      try {
        const a = store.alerts;
        await a.applyAlertChanges({
          instances: [instance("f1", "pending"), instance("f2", "firing")],
          transitions: [
            {
              at: T0,
              ruleId: "rul_1",
              fingerprint: "f1",
              labels: { a: "1" },
              from: "inactive",
              to: "pending",
              value: 31,
            },
            {
              at: T0 + 1,
              ruleId: "rul_1",
              fingerprint: "f2",
              labels: { a: "2" },
              from: "pending",
              to: "firing",
              value: null,
            },
          ],
          outbox: [item("ntf_1", "g1", "waiting", T0 + 30_000)],
        });
        // A second waiting item for the same group is dropped; another group's is kept.
        await a.applyAlertChanges({
          instances: [{ ...instance("f1", "firing") }],
          transitions: [],
          outbox: [item("ntf_2", "g1", "waiting", T0), item("ntf_3", "g2", "waiting", T0 + 5)],
          deleteInstances: [{ ruleId: "rul_1", fingerprint: "f2" }],
        });
        await store.close();
        const again = await reopen();
        const b = again.alerts;
        expect(await b.loadAlertInstances()).toEqual([instance("f1", "firing")]);
        expect((await b.listOutbox({ statuses: ["waiting"], limit: 10 })).map((o) => o.id)).toEqual([
          "ntf_3",
          "ntf_1",
        ]);
        expect(await b.listOutbox({ statuses: ["waiting"], dueBy: T0 + 10, limit: 10 })).toEqual([
          item("ntf_3", "g2", "waiting", T0 + 5),
        ]);
        const history = await b.listAlertTransitions({ ruleId: "rul_1", limit: 10 });
        expect(history.map((t) => [t.fingerprint, t.from, t.to, t.value])).toEqual([
          ["f2", "pending", "firing", null],
          ["f1", "inactive", "pending", 31],
        ]);
        expect(history[0].seq).toBeGreaterThan(history[1].seq);
        expect(await b.listAlertTransitions({ fingerprint: "f1", limit: 10 })).toEqual([history[1]]);
        expect(await b.listAlertTransitions({ beforeSeq: history[0].seq, limit: 10 })).toEqual([history[1]]);
        expect(await b.listAlertTransitions({ limit: 1 })).toEqual([history[0]]);

        // Rendering a waiting item frees its group's slot and stores the group record with it.
        const rendered = { ...item("ntf_1", "g1", "pending", T0 + 30_000), updatedAt: T0 + 30_000 };
        const group = {
          receiverId: "rcv_1",
          groupKey: "g1",
          groupLabels: {},
          sent: { f1: "firing" as const },
          lastSentAt: T0 + 30_000,
        };
        await b.updateOutbox(rendered, group);
        await b.applyAlertChanges({
          instances: [],
          transitions: [],
          outbox: [item("ntf_4", "g1", "waiting", T0 + 99)],
        });
        expect(await b.loadAlertGroups()).toEqual([group]);
        expect(await b.listOutbox({ statuses: ["pending"], limit: 10 })).toEqual([rendered]);
        await b.updateOutbox({
          ...rendered,
          status: "dead",
          attempts: 12,
          lastError: "receiver answered 500",
        });
        expect(await b.outboxCounts()).toEqual({ waiting: 2, pending: 0, sent: 0, dead: 1, skipped: 0 });
        // Purging keeps waiting items and everything newer than the bound.
        expect(await b.purgeAlertRecords(T0)).toBe(1);
        expect((await b.listAlertTransitions({ limit: 10 })).map((t) => t.fingerprint)).toEqual(["f2"]);
        expect(await b.outboxCounts()).toEqual({ waiting: 2, pending: 0, sent: 0, dead: 1, skipped: 0 });
        expect((await b.listOutbox({ statuses: ["dead"], limit: 10 }))[0]).toMatchObject({
          id: "ntf_1",
          attempts: 12,
          lastError: "receiver answered 500",
          payload: '{"n":"ntf_1"}',
        });
        expect(await b.purgeAlertRecords(T0 + 30_000)).toBe(2);
        expect(await b.outboxCounts()).toEqual({ waiting: 2, pending: 0, sent: 0, dead: 0, skipped: 0 });
        expect(await b.listAlertTransitions({ limit: 10 })).toEqual([]);
        await again.close();
      } finally {
        await cleanup();
      }
    });
  });
}
