/**
 * Notifications with fake time over a real server (SQLite file, stream engine,
 * metrics service) and a real HTTP receiver: group timers, escalation,
 * retries with backoff, dead notifications and the host allow-list.
 */
import { describe, expect, it, vi } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";
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
import type { OutMessage } from "../realtime/live-hub.ts";

const hook = useHookReceiver();
const received = hook.received;
const port = () => hook.port;
/** Fires at the first closed window with any event of `temperature`. */
const RULE = { name: "Any", eventType: "temperature", aggregate: "max", window: "1m", op: ">", threshold: 0 };

describe("alert notifications with fake time", () => {
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
        url: `http://127.0.0.1:${port()}/a`,
        groupWait: "30s",
      });
      const b = await post(f, "/v1/alerts/receivers", {
        name: "B",
        url: `http://127.0.0.1:${port()}/b`,
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
        rulesTruncated: 0,
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
        url: `http://127.0.0.1:${port()}/fail`,
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
      await minute(f, clock, { "s-1": 5 });
      expect(received.length).toBe(before + 1);
      const [pending] =
        (await (await f.request("/v1/alerts/notifications?status=pending")).json()).notifications;
      expect(pending).toMatchObject({ status: "pending", attempts: 1, lastError: "failed" });
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
        lastError: "failed",
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
        reason: "failed",
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

  it("re-checks the host allow-list at delivery: a receiver created before the list was set is not called", async () => {
    const clock = new FakeClock(NOW);
    await withRestarts(async (open) => {
      const before = received.length;
      let f = await open();
      const rcv = await post(f, "/v1/alerts/receivers", {
        name: "old",
        url: hook.url("/old"),
        groupWait: "0s",
      });
      await post(f, "/v1/alerts/rules", { ...RULE, receiver: rcv.id });
      await f.server.close();
      f = await open({ ALERTS_WEBHOOK_ALLOWED_HOSTS: "hooks.example.com" });
      await minute(f, clock, { "s-1": 5 });
      expect(received.length).toBe(before);
      const { notifications } = await (await f.request("/v1/alerts/notifications?status=dead")).json();
      expect(notifications.map((n: { attempts: number; lastError: string }) => [n.attempts, n.lastError]))
        .toEqual([[1, "receiver host not allowed"]]);
    }, { clock, env: ENV });
  });

  it("retries a failed delivery after the backoff (doubling, with jitter) and then succeeds, same id", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const before = received.length;
      let failures = 2;
      const answer = hook.answer;
      hook.answer = (path) => (path === "/flaky" && failures-- > 0 ? 503 : answer(path));
      try {
        const rcv = await post(f, "/v1/alerts/receivers", {
          name: "F",
          url: hook.url("/flaky"),
          groupWait: "0s",
        });
        await post(f, "/v1/alerts/rules", { ...RULE, receiver: rcv.id });
        await minute(f, clock, { "s-1": 5 });
        const item = async () =>
          (await (await f.request("/v1/alerts/notifications?status=pending")).json()).notifications[0];
        const first = await item();
        expect(first).toMatchObject({ attempts: 1, lastError: "failed" });
        // Attempt 2 is due 1 s · 2^0 · [0.5, 1.5) after the first failure, attempt 3 1 s · 2^1 · [0.5, 1.5).
        const due1 = Date.parse(first.dueAt) - NOW;
        expect(due1).toBeGreaterThanOrEqual(500);
        expect(due1).toBeLessThanOrEqual(1500);
        clock.current = Date.parse(first.dueAt) - 1;
        await tick(f);
        expect(received.length - before).toBe(1);
        clock.current = Date.parse(first.dueAt);
        await tick(f);
        const second = await item();
        expect(second).toMatchObject({ id: first.id, attempts: 2, lastError: "failed" });
        const due2 = Date.parse(second.dueAt) - clock.current;
        expect(due2).toBeGreaterThanOrEqual(1000);
        expect(due2).toBeLessThanOrEqual(3000);
        clock.current = Date.parse(second.dueAt);
        await tick(f);
        const attempts = received.slice(before);
        expect(attempts.map((r) => [r.path, r.id, r.answered])).toEqual([
          ["/flaky", first.id, 503],
          ["/flaky", first.id, 503],
          ["/flaky", first.id, 200],
        ]);
        expect(attempts[2].body).toEqual(attempts[0].body);
        const [sent] = (await (await f.request("/v1/alerts/notifications?status=sent")).json()).notifications;
        expect(sent).toMatchObject({ id: first.id, status: "sent", attempts: 3, lastError: null });
        expect(f.server.alerting.metricsSnapshot().notifications).toEqual({
          sent: 1,
          failed: 2,
          retried: 2,
          dead: 0,
        });
      } finally {
        hook.answer = answer;
      }
    }, { clock, env: ENV });
  });
});
