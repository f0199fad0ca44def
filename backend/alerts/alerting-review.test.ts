/**
 * Regression tests of the alerting review findings, in process with fake time
 * over a real server (SQLite file, metrics service) and a real HTTP receiver
 * whose answers the test switches.
 */
import { describe, expect, it } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";
import { ENV, MIN, minute, NOW, post, useHookReceiver } from "../testing/alert-fixture.ts";

const hook = useHookReceiver();
const port = () => hook.port;
let failing = false;
hook.answer = () => (failing ? 500 : 200);

/** The requests the receiver accepted (200): path, notification id, status, devices. */
const accepted = () =>
  hook.received.filter((r) => r.answered === 200).map((r) => ({
    path: r.path,
    id: r.id,
    status: r.body.status,
    devices: r.body.alerts.map((a: { labels: { deviceId?: string } }) => a.labels.deviceId ?? ""),
  }));

const rule = (receiver: string | null, extra: Record<string, unknown> = {}) => ({
  name: "Hot",
  eventType: "temperature",
  aggregate: "max",
  window: "1m",
  groupBy: "device",
  op: ">",
  threshold: 30,
  receiver,
  ...extra,
});

describe("alerting review findings", () => {
  it("a silenced sent alert piles up no skipped items; when the silence ends it is notified again", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      hook.received.length = 0;
      const rcv = await post(f, "/v1/alerts/receivers", {
        name: "S",
        url: `http://127.0.0.1:${port()}/s`,
        groupWait: "0s",
        groupInterval: "1m",
        groupBy: ["deviceId"],
      });
      await post(f, "/v1/alerts/rules", rule(rcv.id));
      await minute(f, clock, { "s-1": 40, "s-2": 40 });
      expect(accepted().map((r) => r.devices).sort()).toEqual([["s-1"], ["s-2"]]);
      const silence = await post(f, "/v1/alerts/silences", {
        matchers: [{ name: "deviceId", value: "s-1" }],
        endsAt: NOW + 30 * MIN,
        comment: "maintenance",
      });
      for (let m = 1; m <= 10; m++) {
        clock.advance(MIN);
        await minute(f, clock, { "s-1": 40, "s-2": 40 });
      }
      const counts = await f.server.store.alerts.outboxCounts();
      expect(counts).toEqual({ waiting: 0, pending: 0, sent: 2, dead: 0, skipped: 0 });
      expect(accepted().length).toBe(2); // the control alert (s-2) is not repeated before 4h either
      const del = await f.request(`/v1/alerts/silences/${silence.id}`, { method: "DELETE" });
      expect(del.status).toBe(204);
      clock.advance(MIN);
      await minute(f, clock, { "s-1": 40, "s-2": 40 });
      expect(accepted().slice(2).map((r) => [r.status, r.devices])).toEqual([["firing", ["s-1"]]]);
    }, { clock, env: ENV });
  });

  it("a newer notification of a group supersedes an older one still retrying", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      hook.received.length = 0;
      failing = true;
      try {
        const rcv = await post(f, "/v1/alerts/receivers", {
          name: "O",
          url: `http://127.0.0.1:${port()}/o`,
          groupWait: "0s",
          groupInterval: "1m",
        });
        await post(f, "/v1/alerts/rules", rule(rcv.id));
        await minute(f, clock, { "s-1": 40 });
        const [firing] = await f.server.store.alerts.listOutbox({ statuses: ["pending"], limit: 10 });
        expect(firing.attempts).toBe(1);
        clock.advance(MIN);
        await minute(f, clock, { "s-1": 10 });
        const skipped = await f.server.store.alerts.listOutbox({ statuses: ["skipped"], limit: 10 });
        expect(skipped.map((i) => i.id)).toEqual([firing.id]);
        failing = false;
        clock.advance(10 * MIN);
        await minute(f, clock, {});
        expect(accepted().map((r) => r.status)).toEqual(["resolved"]);
      } finally {
        failing = false;
      }
    }, { clock, env: ENV });
  });

  it("a dead firing notification is sent again at the next group interval", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      hook.received.length = 0;
      failing = true;
      try {
        const rcv = await post(f, "/v1/alerts/receivers", {
          name: "D",
          url: `http://127.0.0.1:${port()}/d`,
          groupWait: "0s",
          groupInterval: "2m",
        });
        await post(f, "/v1/alerts/rules", rule(rcv.id));
        await minute(f, clock, { "s-1": 40 });
        expect((await f.server.store.alerts.outboxCounts()).dead).toBe(1);
        failing = false;
        clock.advance(MIN);
        await minute(f, clock, { "s-1": 40 });
        expect(accepted()).toEqual([]);
        clock.advance(MIN);
        await minute(f, clock, { "s-1": 40 });
        expect(accepted().map((r) => [r.status, r.devices])).toEqual([["firing", ["s-1"]]]);
      } finally {
        failing = false;
      }
    }, { clock, env: { ...ENV, ALERTS_MAX_ATTEMPTS: "1" } });
  });

  it("deleting a rule while its round reads does not bring its alert back", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const r = await post(f, "/v1/alerts/rules", rule(null));
      await minute(f, clock, { "s-1": 40 });
      expect([...f.server.alerting.catalog.allInstances()].map((i) => i.state)).toEqual(["firing"]);
      const source = f.server.alerting.dataSource;
      const read = source.readWindows.bind(source);
      let release = () => {};
      const gate = new Promise<void>((r) => (release = r));
      let reading = () => {};
      const started = new Promise<void>((r) => (reading = r));
      source.readWindows = async (q) => {
        reading();
        await gate;
        return read(q);
      };
      clock.advance(MIN);
      const round = minute(f, clock, { "s-1": 40 });
      await started;
      const deleted = f.request(`/v1/alerts/rules/${r.id}`, { method: "DELETE" });
      await new Promise((r) => setTimeout(r, 20));
      release();
      await round;
      expect((await deleted).status).toBe(204);
      await f.server.alerting.evaluator.idle();
      expect((await (await f.request("/v1/alerts")).json()).alerts).toEqual([]);
      expect((await f.server.store.alerts.loadAlertInstances()).map((i) => i.state)).toEqual(["resolved"]);
    }, { clock, env: ENV });
  });

  it("resolved instances do not count against the per-rule limit and are pruned after 15 min", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      await post(f, "/v1/alerts/rules", rule(null));
      await minute(f, clock, { "s-1": 40 });
      clock.advance(MIN);
      await minute(f, clock, { "s-1": 10 });
      clock.advance(MIN);
      await minute(f, clock, { "s-2": 40 });
      const states = () =>
        [...f.server.alerting.catalog.allInstances()].map((i) => [i.labels.deviceId, i.state]).sort();
      expect(states()).toEqual([["s-1", "resolved"], ["s-2", "firing"]]);
      for (let m = 0; m < 15; m++) {
        clock.advance(MIN);
        await minute(f, clock, { "s-2": 40 });
      }
      expect(states()).toEqual([["s-2", "firing"]]);
      expect((await f.server.store.alerts.loadAlertInstances()).map((i) => i.labels.deviceId)).toEqual([
        "s-2",
      ]);
    }, { clock, env: { ...ENV, ALERTS_MAX_INSTANCES_PER_RULE: "1" } });
  });

  it("stores keepFiringSince when it changes without a state change", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      await post(f, "/v1/alerts/rules", rule(null, { keepFiringFor: "5m" }));
      await minute(f, clock, { "s-1": 40 });
      clock.advance(MIN);
      await minute(f, clock, { "s-1": 10 });
      const [stored] = await f.server.store.alerts.loadAlertInstances();
      expect(stored).toMatchObject({ state: "firing", keepFiringSince: NOW + MIN, value: 10 });
    }, { clock, env: ENV });
  });

  it("audits a receiver's URL by its origin only (the path may carry a token)", async () => {
    await withApp(async (f) => {
      const rcv = await post(f, "/v1/alerts/receivers", {
        name: "T",
        url: `http://127.0.0.1:${port()}/hook/SECRET-TOKEN?key=SECRET2`,
      });
      const res = await f.request(`/v1/alerts/receivers/${rcv.id}`, {
        method: "PUT",
        body: JSON.stringify({ name: "T", url: `http://127.0.0.1:${port()}/other/SECRET3` }),
      });
      expect(res.status).toBe(200);
      const entries = await f.server.store.listAudit({ limit: 10 });
      const details = entries.filter((e) => e.action.startsWith("alert_receiver.")).map((e) => e.details);
      expect(details).toEqual([
        { name: "T", url: `http://127.0.0.1:${port()}` },
        { name: "T", url: `http://127.0.0.1:${port()}` },
      ]);
    }, { env: ENV });
  });
});
