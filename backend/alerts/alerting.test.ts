/**
 * The alerting subsystem in process with fake time: a real server (SQLite
 * file, stream engine, metrics service), closed windows published on its bus
 * as the engine does, the timer driven by hand, and a real HTTP receiver.
 */
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { join } from "node:path";
import { type AppFixture, FakeClock, TEST_KEY, withApp, withTempDir } from "../testing/with-app.ts";
import { openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { loadConfig } from "../config.ts";
import { createLogger } from "../logger.ts";
import { createPulseStream, type PulseStream } from "../server.ts";
import type { OutMessage } from "../realtime/live-hub.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const MIN = 60_000;
const json = (v: unknown) => JSON.stringify(v);
const iso = (ms: number) => new Date(ms).toISOString();

let hook: Server;
let port = 0;
const received: { path: string; body: { status: string; receiver: string; alerts: { status: string }[] } }[] =
  [];

beforeAll(async () => {
  hook = createServer((req, res) => {
    let text = "";
    req.on("data", (d) => (text += d));
    req.on("end", () => {
      received.push({ path: req.url!, body: JSON.parse(text) });
      res.writeHead(req.url!.startsWith("/fail") ? 500 : 200).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", () => r()));
  port = (hook.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => hook.close(() => r())));

const ENV = { ALERTS_EVAL_INTERVAL_MS: "60000" };

async function post(f: AppFixture, path: string, body: unknown) {
  const res = await f.request(path, { method: "POST", body: json(body) });
  expect(res.status).toBe(path === "/v1/events" ? 202 : 201);
  return await res.json();
}

/** Publishes the closed all-device window ending at `end` as the engine does, and waits for the round. */
async function windowClosed(f: AppFixture, eventType: string, end: number, resolution = MIN) {
  f.server.bus.publish({
    kind: "window",
    final: true,
    resolution,
    eventType,
    deviceId: null,
    start: end - resolution,
    end,
    values: {} as never,
  });
  await f.server.alerting.evaluator.idle();
}

async function tick(f: AppFixture) {
  await f.server.alerting.tick();
  await f.server.alerting.delivery.idle();
}

describe("alerting with fake time", () => {
  it("fires after `for`, notifies after groupWait, escalates after `after`, resolves to both receivers", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const live: string[] = [];
      f.server.hub.subscribe(
        "test",
        {
          channels: new Set(["alerts"]),
          deviceIds: null,
          eventTypes: null,
          metadata: [],
        },
        {
          send: (m: readonly OutMessage[]) => Promise.resolve(void live.push(...m.map((x) => x.data))),
          close() {},
        },
        null,
      );
      const a = await post(f, "/v1/alerts/receivers", {
        name: "A",
        url: `http://127.0.0.1:${port}/a`,
        groupWait: "30s",
      });
      const b = await post(f, "/v1/alerts/receivers", {
        name: "B",
        url: `http://127.0.0.1:${port}/b`,
        groupWait: "0s",
      });
      const rule = await post(f, "/v1/alerts/rules", {
        name: "HighTemp",
        eventType: "temperature",
        aggregate: "avg",
        window: "1m",
        groupBy: "device",
        op: ">",
        threshold: 30,
        for: "2m",
        severity: "critical",
        annotations: { summary: "{{ $labels.deviceId }} is {{ $value }}" },
        receiver: a.id,
        escalation: { receiver: b.id, after: "10m" },
      });
      /** One minute: an event of `value` in the minute just ended, its window closes, the timer runs. */
      const minute = async (value: number) => {
        await post(f, "/v1/events", {
          deviceId: "s-1",
          eventType: "temperature",
          value,
          timestamp: clock.now() - 30_000,
        });
        await windowClosed(f, "temperature", clock.now());
        await tick(f);
      };
      await minute(40);
      const [pending] = (await (await f.request("/v1/alerts")).json()).alerts;
      const labels = { alertname: "HighTemp", severity: "critical", deviceId: "s-1" };
      expect(pending).toEqual({
        fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
        ruleId: rule.id,
        ruleName: "HighTemp",
        severity: "critical",
        state: "pending",
        labels,
        annotations: { summary: "s-1 is 40" },
        value: 40,
        activeAt: iso(NOW),
        firedAt: null,
        resolvedAt: null,
        silenced: false,
      });
      await vi.waitFor(() => expect(live.length).toBe(1));
      expect(JSON.parse(live[0])).toEqual({ type: "alert", alert: pending, from: "inactive" });
      clock.advance(MIN);
      await minute(40);
      expect(f.server.alerting.metricsSnapshot().alerts.pending.critical).toBe(1);
      clock.advance(MIN);
      await minute(40);
      const [firing] = (await (await f.request("/v1/alerts")).json()).alerts;
      expect(firing).toMatchObject({ state: "firing", firedAt: iso(NOW + 2 * MIN) });
      expect(received).toEqual([]);
      clock.advance(29_999);
      await tick(f);
      expect(received).toEqual([]);
      clock.advance(1);
      await tick(f);
      expect(received.map((r) => [r.path, r.body.status])).toEqual([["/a", "firing"]]);
      // Still firing: no repeat before repeatInterval (4h); the escalation receiver hears at 10 min.
      for (let m = 1; m <= 10; m++) {
        clock.current = NOW + (2 + m) * MIN;
        await minute(45);
      }
      expect(received.map((r) => [r.path, r.body.status, r.body.receiver])).toEqual([
        ["/a", "firing", "A"],
        ["/b", "firing", "B"],
      ]);
      clock.advance(MIN);
      await minute(20);
      await tick(f);
      // A last sent long ago: at once. B sent its firing notification at 12 min: groupInterval (5m) later.
      expect(received.slice(2).map((r) => [r.path, r.body.status])).toEqual([["/a", "resolved"]]);
      clock.current = NOW + 17 * MIN - 1;
      await tick(f);
      expect(received.length).toBe(3);
      clock.current = NOW + 17 * MIN;
      await tick(f);
      expect(received.slice(3).map((r) => [r.path, r.body.status])).toEqual([["/b", "resolved"]]);
      const history = (await (await f.request(`/v1/alerts/history?ruleId=${rule.id}`)).json()).history;
      expect(history.map((t: { from: string; to: string; at: string }) => [t.from, t.to, t.at]).reverse())
        .toEqual([
          ["inactive", "pending", iso(NOW)],
          ["pending", "firing", iso(NOW + 2 * MIN)],
          ["firing", "resolved", iso(NOW + 13 * MIN)],
        ]);
      await tick(f); // outbox counts are refreshed at each tick, before that tick's deliveries finish
      const snapshot = f.server.alerting.metricsSnapshot();
      expect(snapshot).toEqual({
        alerts: {
          inactive: { critical: 0, warning: 0, info: 0 },
          pending: { critical: 0, warning: 0, info: 0 },
          firing: { critical: 0, warning: 0, info: 0 },
          resolved: { critical: 1, warning: 0, info: 0 },
        },
        notifications: { sent: 4, failed: 0, retried: 0, dead: 0 },
        outbox: { waiting: 0, pending: 0, sent: 4, dead: 0, skipped: 0 },
        outboxDepth: 0,
        // The last round that evaluated anything: the timer's catch-up just before 17 min.
        lastRound: { at: NOW + 17 * MIN - 1, durationMs: expect.any(Number), rules: 1, queries: 1 },
        rules: 1,
      });
      await vi.waitFor(() =>
        expect(live.map((l) => JSON.parse(l).alert.state)).toEqual(["pending", "firing", "resolved"])
      );
    }, { clock, env: ENV });
  });

  it("keeps a notification whose attempts are exhausted as dead, queryable by admins", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const before = received.length;
      const rcv = await post(f, "/v1/alerts/receivers", {
        name: "F",
        url: `http://127.0.0.1:${port}/fail`,
        groupWait: "0s",
      });
      await post(f, "/v1/alerts/rules", {
        name: "Doomed",
        eventType: "temperature",
        aggregate: "max",
        window: "1m",
        op: ">",
        threshold: 0,
        receiver: rcv.id,
      });
      await post(f, "/v1/events", {
        deviceId: "s-1",
        eventType: "temperature",
        value: 5,
        timestamp: NOW - 30_000,
      });
      await windowClosed(f, "temperature", NOW);
      await tick(f);
      expect(received.length).toBe(before + 1);
      const [pending] =
        (await (await f.request("/v1/alerts/notifications?status=pending")).json()).notifications;
      expect(pending).toMatchObject({ status: "pending", attempts: 1, lastError: "receiver answered 500" });
      // Retry after 1 s ± 50 %.
      expect(Date.parse(pending.dueAt)).toBeGreaterThanOrEqual(NOW + 500);
      expect(Date.parse(pending.dueAt)).toBeLessThanOrEqual(NOW + 1500);
      clock.advance(1500);
      await tick(f);
      expect(received.length).toBe(before + 2);
      clock.advance(60_000);
      await tick(f);
      expect(received.length).toBe(before + 2);
      const res = await f.request("/v1/alerts/notifications?status=dead");
      const { notifications } = await res.json();
      expect(notifications).toEqual([{
        id: pending.id,
        receiverId: rcv.id,
        groupKey: `{}/${rcv.id}:{alertname="Doomed"}`,
        status: "dead",
        attempts: 2,
        lastError: "receiver answered 500",
        dueAt: pending.dueAt,
        createdAt: iso(NOW),
        updatedAt: iso(NOW + 1500),
        payload: received[before].body,
      }]);
      expect(f.server.alerting.metricsSnapshot().notifications).toEqual({
        sent: 0,
        failed: 2,
        retried: 1,
        dead: 1,
      });
      // Also kept as a dead letter; replaying it sends the same notification again, once.
      const { items } = await (await f.request("/v1/admin/dead-letters?kind=notification")).json();
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({
        kind: "notification",
        reason: "receiver answered 500",
        attempts: 2,
        replayedAt: null,
        payload: { id: pending.id, status: "dead" },
      });
      const replay = await f.request(`/v1/admin/dead-letters/${items[0].id}/replay`, { method: "POST" });
      expect(await replay.json()).toMatchObject({ id: items[0].id, outcome: "replayed" });
      const again = await f.request(`/v1/admin/dead-letters/${items[0].id}/replay`, { method: "POST" });
      expect(await again.json()).toMatchObject({ id: items[0].id, outcome: "already-replayed" });
      await tick(f);
      expect(received.length).toBe(before + 3);
      expect(received[before + 2].body).toEqual(received[before].body);
      const [resent] =
        (await (await f.request("/v1/alerts/notifications?status=pending")).json()).notifications;
      expect(resent).toMatchObject({ id: pending.id, attempts: 1 });
      const metrics = await (await f.request("/metrics")).text();
      expect(metrics).toContain('pulsestream_dead_letters{kind="notification",state="replayed"} 1\n');
      expect(metrics).toContain('pulsestream_alert_notifications_total{outcome="dead"} 1\n');
      const bad = await f.request("/v1/alerts/notifications?status=lost&limit=0");
      expect(bad.status).toBe(400);
      expect((await bad.json()).errors).toEqual([
        { field: "status", message: "status must be one of waiting, pending, sent, dead, skipped" },
        { field: "limit", message: "limit must be an integer from 1 to 1000" },
      ]);
    }, { clock, env: { ...ENV, ALERTS_MAX_ATTEMPTS: "2", ALERTS_RETRY_BASE_MS: "1000" } });
  });

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
    await withTempDir(async (dir) => {
      const clock = new FakeClock(NOW);
      const config = loadConfig({
        DATABASE_URL: `file:${join(dir, "r.db")}`,
        BOOTSTRAP_API_KEY: TEST_KEY,
        LOG_LEVEL: "silent",
        ...ENV,
      });
      const open = async () =>
        createPulseStream(config, {
          driver: await openSqlDriver(config.databaseUrl, { ...config.sqlite, preference: "auto" }),
          logger: createLogger("silent"),
          clock,
          print: () => {},
        });
      const fixture = (server: PulseStream): AppFixture => ({
        server,
        config,
        dir,
        request: (path, init = {}) =>
          Promise.resolve(server.app.request(`http://localhost${path}`, {
            ...init,
            headers: { "x-api-key": TEST_KEY, "content-type": "application/json" },
          })),
      });
      const before = received.length;
      let f = fixture(await open());
      const rcv = await post(f, "/v1/alerts/receivers", {
        name: "R",
        url: `http://127.0.0.1:${port}/r`,
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
      await post(f, "/v1/events", {
        deviceId: "s-1",
        eventType: "temperature",
        value: 5,
        timestamp: NOW - 30_000,
      });
      await windowClosed(f, "temperature", NOW);
      await tick(f);
      const [firing] = (await (await f.request("/v1/alerts")).json()).alerts;
      expect(firing.state).toBe("firing");
      await f.server.close();

      clock.advance(30_000);
      f = fixture(await open());
      try {
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
      } finally {
        await f.server.close();
      }
    });
  });
});
