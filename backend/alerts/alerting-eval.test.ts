/**
 * Rule evaluation with fake time over a real server (SQLite file, stream
 * engine, metrics service): closed windows published on its bus as the engine
 * does, the timer driven by hand, state kept across a restart.
 */
import { describe, expect, it } from "vitest";
import { type AppFixture, FakeClock, withApp } from "../testing/with-app.ts";
import {
  ENV,
  iso,
  MIN,
  minute,
  NOW,
  post,
  tick,
  useHookReceiver,
  windowClosed,
  withRestarts,
} from "../testing/alert-fixture.ts";

const hook = useHookReceiver();
const received = hook.received;
const port = () => hook.port;
/** Fires at once when the max over the minute exceeds 30. */
const HOT = { name: "Hot", eventType: "temperature", aggregate: "max", window: "1m", op: ">", threshold: 30 };

describe("alert evaluation with fake time", () => {
  it("evaluates every step it missed when several windows close at once, so `for` is exact", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const rule = await post(f, "/v1/alerts/rules", {
        name: "CatchUp",
        eventType: "temperature",
        aggregate: "avg",
        window: "1m",
        op: ">",
        threshold: 30,
        for: "2m",
      });
      const events = [0, 1, 2, 3].map((m) => ({
        deviceId: "s-1",
        eventType: "temperature",
        value: m === 3 ? 10 : 40,
        timestamp: NOW - 30_000 + m * MIN,
      }));
      await post(f, "/v1/events", events);
      // Only the last of four closed windows is announced (a stalled tick): all four are evaluated.
      clock.current = NOW + 3 * MIN;
      await windowClosed(f, "temperature", NOW + 3 * MIN);
      const history = (await (await f.request(`/v1/alerts/history?ruleId=${rule.id}`)).json()).history;
      expect(
        history.map((
          t: { from: string; to: string; at: string; value: number },
        ) => [t.from, t.to, t.at, t.value]),
      )
        .toEqual([
          ["firing", "resolved", iso(NOW + 3 * MIN), 10],
          ["pending", "firing", iso(NOW + 2 * MIN), 40],
          ["inactive", "pending", iso(NOW), 40],
        ]);
      expect(await f.server.store.alerts.loadAlertInstances()).toEqual([
        expect.objectContaining({
          state: "resolved",
          activeAt: NOW,
          firedAt: NOW + 2 * MIN,
          resolvedAt: NOW + 3 * MIN,
        }),
      ]);
    }, { clock, env: ENV });
  });

  it("fires nodata rules per device on the timer when a device sends nothing for the window", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      await post(f, "/v1/events", [
        { deviceId: "h-1", eventType: "heartbeat", timestamp: NOW - 30_000 },
        { deviceId: "h-2", eventType: "heartbeat", timestamp: NOW - 90_000 },
      ]);
      await post(f, "/v1/alerts/rules", {
        name: "Silent",
        kind: "nodata",
        eventType: "heartbeat",
        window: "1m",
        groupBy: "device",
      });
      // Windows close 70 s after their end here (lateness 5 s + idle 5 s + timer period 60 s).
      clock.advance(70_000);
      await tick(f);
      const alerts = (await (await f.request("/v1/alerts")).json()).alerts;
      expect(
        alerts.map((
          a: { labels: { deviceId: string }; state: string; value: number },
        ) => [a.labels.deviceId, a.state, a.value]),
      )
        .toEqual([["h-2", "firing", 0]]);
      clock.advance(MIN);
      await tick(f);
      const later = (await (await f.request("/v1/alerts")).json()).alerts;
      expect(later.map((a: { labels: { deviceId: string } }) => a.labels.deviceId).sort()).toEqual([
        "h-1",
        "h-2",
      ]);
    }, { clock, env: ENV });
  });

  it("fires a system rule on the share of 5xx responses over its window", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const rule = await post(f, "/v1/alerts/rules", {
        name: "Errors",
        kind: "system",
        metric: "error_rate",
        window: "2s",
        op: ">",
        threshold: 0.5,
      });
      await tick(f);
      for (const status of [500, 503, 500, 200]) f.server.alerting.countResponse(status);
      clock.advance(1000);
      await tick(f);
      const [alert] = [...f.server.alerting.catalog.allInstances()];
      expect(alert).toMatchObject({
        ruleId: rule.id,
        state: "firing",
        value: 0.75,
        labels: { alertname: "Errors" },
      });
      clock.advance(2000);
      await tick(f);
      expect(alert.fingerprint).toBe([...f.server.alerting.catalog.allInstances()][0].fingerprint);
      expect([...f.server.alerting.catalog.allInstances()][0]).toMatchObject({ state: "resolved", value: 0 });
    }, { clock, env: ENV });
  });

  it("restores instances, group timers and waiting notifications after a restart", async () => {
    const clock = new FakeClock(NOW);
    await withRestarts(async (open) => {
      const before = received.length;
      let f = await open();
      const rcv = await post(f, "/v1/alerts/receivers", {
        name: "R",
        url: `http://127.0.0.1:${port()}/r`,
        groupWait: "30s",
      });
      await post(f, "/v1/alerts/rules", {
        name: "Restarted",
        eventType: "temperature",
        aggregate: "max",
        window: "1m",
        op: ">",
        threshold: 0,
        receiver: rcv.id,
      });
      await minute(f, clock, { "s-1": 5 });
      const [firing] = (await (await f.request("/v1/alerts")).json()).alerts;
      expect(firing.state).toBe("firing");
      await f.server.close();

      clock.advance(30_000);
      f = await open();
      expect((await (await f.request("/v1/alerts")).json()).alerts).toEqual([firing]);
      await tick(f);
      expect(received.slice(before).map((r) => [r.path, r.body.status])).toEqual([["/r", "firing"]]);
      // What the group sent was stored with it: the next tick sends nothing more.
      clock.advance(MIN);
      await post(f, "/v1/events", {
        deviceId: "s-1",
        eventType: "temperature",
        value: 5,
        timestamp: NOW + 30_000,
      });
      await windowClosed(f, "temperature", NOW + MIN);
      await tick(f);
      expect(received.length).toBe(before + 1);
    }, { clock, env: ENV });
  });

  it("a per-device rule reads every device page by page, up to ALERTS_MAX_SERIES_PER_RULE, and says so when it stops", async () => {
    const devices = ["d-1", "d-2", "d-3", "d-4", "d-5"];
    const firingDevices = (f: AppFixture) =>
      [...f.server.alerting.catalog.allInstances()].filter((i) => i.state === "firing").map((i) =>
        i.labels.deviceId
      ).sort();
    for (
      const [cap, fired, truncated] of [["10", devices, false], ["4", devices.slice(0, 4), true]] as const
    ) {
      const clock = new FakeClock(NOW);
      await withApp(async (f) => {
        const rule = await post(f, "/v1/alerts/rules", { ...HOT, groupBy: "device" });
        await post(
          f,
          "/v1/events",
          devices.map((deviceId) => ({
            deviceId,
            eventType: "temperature",
            value: 40,
            timestamp: NOW - 30_000,
          })),
        );
        await windowClosed(f, "temperature", NOW);
        // METRICS_MAX_SERIES (2) is one query's page, not the rule's limit.
        expect([cap, firingDevices(f)]).toEqual([cap, fired]);
        const { status } = await (await f.request(`/v1/alerts/rules/${rule.id}`)).json();
        expect(status).toEqual({
          evaluatedEvery: "1m",
          lastEvaluatedAt: iso(NOW),
          series: fired.length,
          truncated,
        });
        const metrics = await (await f.request("/metrics")).text();
        expect(metrics).toContain(`pulsestream_alert_rules_truncated ${truncated ? 1 : 0}\n`);
      }, { clock, env: { ...ENV, METRICS_MAX_SERIES: "2", ALERTS_MAX_SERIES_PER_RULE: cap } });
    }
  });

  it("a window that is not whole minutes is evaluated when the minute closes, not at every second", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const rule = await post(f, "/v1/alerts/rules", {
        ...HOT,
        window: "90s",
        aggregate: "avg",
        threshold: 50,
      });
      await post(f, "/v1/events", [
        { deviceId: "s-1", eventType: "temperature", value: 100, timestamp: NOW - 95_000 },
        { deviceId: "s-1", eventType: "temperature", value: 40, timestamp: NOW - 80_000 },
        { deviceId: "s-1", eventType: "temperature", value: 20, timestamp: NOW - 10_000 },
      ]);
      for (let s = 59; s >= 1; s--) {
        clock.current = NOW - s * 1000;
        await windowClosed(f, "temperature", clock.current, 1000);
      }
      expect(f.server.alerting.evaluator.status(rule.id)).toMatchObject({ lastEvaluatedAt: null });
      clock.current = NOW;
      await windowClosed(f, "temperature", NOW, 1000);
      await windowClosed(f, "temperature", NOW);
      const { history } = await (await f.request(`/v1/alerts/history?ruleId=${rule.id}`)).json();
      // The minute before (the rule started behind) and now, each over the 90 s ending there:
      // [NOW-150s, NOW-60s) holds 100 and 40, [NOW-90s, NOW) holds 40 and 20 (the 100 is 95 s old).
      expect(
        history.map((
          t: { from: string; to: string; at: string; value: number },
        ) => [t.from, t.to, t.at, t.value]),
      )
        .toEqual([["firing", "resolved", iso(NOW), 30], ["inactive", "firing", iso(NOW - MIN), 70]]);
      expect((await (await f.request(`/v1/alerts/rules/${rule.id}`)).json()).status).toMatchObject({
        evaluatedEvery: "1m",
        lastEvaluatedAt: iso(NOW),
      });
    }, { clock, env: ENV });
  });
});
