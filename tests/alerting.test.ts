/**
 * Alerting end to end: the real server process, a real HTTP receiver
 * (node:http on a free port), real time with small windows (1 s live
 * resolution, `for` of 2 s). A rule fires after `for` and the receiver gets
 * exactly the expected Alertmanager v4 payload, then the resolved one; a
 * silenced alert is not sent; a receiver failing 3 times gets the same
 * notification id on every attempt until it succeeds; receivers that hold
 * every delivery slot open do not hold up ingestion. SIGKILL cases are in
 * alerting-crash.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, ENV, feed, Receiver, rule, waitFor, ZERO } from "./alerting-helpers.ts";
import { freePort, type Runtime, type ServerProcess, startServer } from "./server-process.ts";

const KEY = ENV.BOOTSTRAP_API_KEY;

describe.each(["deno", "node"] as Runtime[])(
  "alerting end to end (%s server, real webhook receiver)",
  (runtime) => {
    let dir: string;
    let server: ServerProcess;
    let receiver: Receiver;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "pulsestream-alerting-"));
      receiver = new Receiver(await freePort());
      await receiver.listen();
      server = await startServer(runtime, { ...ENV, DATABASE_URL: `file:${join(dir, "a.db")}` });
    });
    afterAll(async () => {
      await server?.kill("SIGTERM");
      await receiver?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("fires after `for`, sends exactly the v4 payload, then sends the resolved one", async () => {
      const rcv = await api(server, "POST", "/v1/alerts/receivers", {
        name: "ops-webhook",
        url: `http://127.0.0.1:${receiver.port}/hook`,
        groupWait: "0s",
        groupInterval: "1s",
      });
      expect(rcv.status).toBe(201);
      const created = await api(
        server,
        "POST",
        "/v1/alerts/rules",
        rule("HighTemp", "temperature", rcv.body.id),
      );
      expect(created.status).toBe(201);
      const ruleId = created.body.id;
      const stop = feed(server, "temperature", "s-1", 40);
      const firing = await waitFor("the firing notification", () => receiver.at("/hook")[0]);
      await stop();
      const history = (await api(server, "GET", `/v1/alerts/history?ruleId=${ruleId}`)).body.history
        .reverse();
      expect(history.slice(0, 2).map((t: { from: string; to: string }) => `${t.from}->${t.to}`)).toEqual([
        "inactive->pending",
        "pending->firing",
      ]);
      // Evaluations run at each closed 1 s window: firing exactly `for` after pending.
      expect(Date.parse(history[1].at) - Date.parse(history[0].at)).toBe(2000);
      const labels = { alertname: "HighTemp", severity: "critical", team: "ops", deviceId: "s-1" };
      const fingerprint = history[0].fingerprint;
      expect(fingerprint).toMatch(/^[0-9a-f]{16}$/);
      const common = {
        version: "4",
        groupKey: `{}/${rcv.body.id}:{alertname="HighTemp"}`,
        truncatedAlerts: 0,
        receiver: "ops-webhook",
        groupLabels: { alertname: "HighTemp" },
        commonLabels: labels,
        commonAnnotations: { summary: "s-1 is 40" },
        externalURL: server.url,
      };
      const alert = {
        labels,
        annotations: { summary: "s-1 is 40" },
        startsAt: history[1].at,
        generatorURL: `${server.url}/v1/alerts/rules/${ruleId}`,
        fingerprint,
      };
      expect(firing.body).toEqual({
        ...common,
        status: "firing",
        alerts: [{ ...alert, status: "firing", endsAt: ZERO }],
      });
      expect(firing.headers["content-type"]).toBe("application/json");
      expect(firing.headers["idempotency-key"]).toMatch(/^ntf_[0-9a-f]{32}$/);
      expect(firing.headers["x-pulsestream-notification-id"]).toBe(firing.headers["idempotency-key"]);

      // No more events: the window holds no data, the condition stops holding, the alert resolves.
      const resolved = await waitFor("the resolved notification", () => receiver.at("/hook")[1]);
      const after = (await api(server, "GET", `/v1/alerts/history?ruleId=${ruleId}`)).body.history;
      expect(after[0]).toMatchObject({ from: "firing", to: "resolved", fingerprint });
      expect(resolved.body).toEqual({
        ...common,
        status: "resolved",
        alerts: [{ ...alert, status: "resolved", endsAt: after[0].at }],
      });
      expect(resolved.headers["idempotency-key"]).not.toBe(firing.headers["idempotency-key"]);
      expect((await api(server, "GET", "/v1/alerts")).body).toEqual({ alerts: [] });
      await new Promise((r) => setTimeout(r, 1500));
      expect(receiver.at("/hook").length).toBe(2);
    });

    it("does not send a silenced alert", async () => {
      const rcv = await api(server, "POST", "/v1/alerts/receivers", {
        name: "silenced",
        url: `http://127.0.0.1:${receiver.port}/silenced`,
        groupWait: "0s",
      });
      const created = await api(server, "POST", "/v1/alerts/rules", rule("Hot2", "humidity", rcv.body.id));
      const silence = await api(server, "POST", "/v1/alerts/silences", {
        matchers: [{ name: "deviceId", value: "s-[0-9]+", isRegex: true }, {
          name: "alertname",
          value: "Hot2",
        }],
        endsAt: new Date(Date.now() + 3_600_000).toISOString(),
      });
      expect(silence.status).toBe(201);
      const stop = feed(server, "humidity", "s-7", 50);
      const alert = await waitFor("the silenced alert to fire", async () => {
        const { alerts } = (await api(server, "GET", "/v1/alerts")).body;
        return alerts.find((a: { ruleId: string; state: string }) =>
          a.ruleId === created.body.id && a.state === "firing"
        );
      });
      expect(alert.silenced).toBe(true);
      // Several evaluation and group-timer rounds later, still nothing was sent.
      await new Promise((r) => setTimeout(r, 1500));
      await stop();
      expect(receiver.at("/silenced")).toEqual([]);
    });

    it("retries a receiver that fails 3 times with the same notification id until it succeeds", async () => {
      receiver.fail("/flaky", 3);
      const rcv = await api(server, "POST", "/v1/alerts/receivers", {
        name: "flaky",
        url: `http://127.0.0.1:${receiver.port}/flaky`,
        groupWait: "0s",
      });
      await api(server, "POST", "/v1/alerts/rules", rule("Hot3", "pressure", rcv.body.id));
      const stop = feed(server, "pressure", "p-1", 99);
      const attempts = await waitFor(
        "four attempts",
        () => (receiver.at("/flaky").length >= 4 ? receiver.at("/flaky") : undefined),
      );
      await stop();
      const ids = attempts.slice(0, 4).map((a) => a.headers["idempotency-key"]);
      expect(new Set(ids).size).toBe(1);
      expect(ids[0]).toMatch(/^ntf_[0-9a-f]{32}$/);
      expect(attempts.slice(0, 4).map((a) => a.body)).toEqual(Array(4).fill(attempts[0].body));
      expect(attempts[0].body.status).toBe("firing");
      expect(attempts[0].body.alerts.map((a) => a.labels)).toEqual([
        { alertname: "Hot3", severity: "critical", team: "ops", deviceId: "p-1" },
      ]);
    });

    it("keeps ingesting and committing while receivers hold every delivery slot open", async () => {
      // Four receivers that never answer hold all 8 delivery slots (2 per receiver) until the timeout.
      const paths = ["/hang-1", "/hang-2", "/hang-3", "/hang-4"];
      for (const [i, path] of paths.entries()) {
        const rcv = await api(server, "POST", "/v1/alerts/receivers", {
          name: path,
          url: `http://127.0.0.1:${receiver.port}${path}`,
          groupWait: "0s",
          groupBy: ["deviceId"],
        });
        await api(server, "POST", "/v1/alerts/rules", {
          ...rule(`Hang${i}`, "vibration", rcv.body.id),
          for: "0s",
        });
      }
      const stops = ["v-1", "v-2"].map((d) => feed(server, "vibration", d, 70));
      await waitFor(
        "8 webhook requests held open",
        () => receiver.received.filter((r) => r.path.startsWith("/hang")).length >= 8,
      );
      for (const stop of stops) await stop();
      const held = receiver.received.filter((r) => r.path.startsWith("/hang")).length;
      // Meanwhile every ingest request is answered and committed: 20 single events, then a batch of 50.
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${server.url}/v1/events`, {
          method: "POST",
          headers: { "x-api-key": KEY, "content-type": "application/json" },
          body: JSON.stringify({ id: `chk-${i}`, deviceId: "other", eventType: "ingest-check", value: i }),
        });
        expect([i, res.status]).toEqual([i, 202]);
      }
      const batch = await api(
        server,
        "POST",
        "/v1/events",
        Array.from(
          { length: 50 },
          (_, i) => ({ deviceId: "other", eventType: "ingest-check", value: 100 + i }),
        ),
      );
      expect(batch.status).toBe(202);
      const stored = await api(server, "GET", "/v1/events?deviceId=other&eventType=ingest-check&limit=1000");
      expect(stored.body.data.events.length).toBe(70);
      expect((await api(server, "GET", "/v1/events/chk-19")).body.data).toMatchObject({
        id: "chk-19",
        value: 19,
      });
      // No attempt ended meanwhile (the held ones are still open): the slots were held all along.
      expect(receiver.received.filter((r) => r.path.startsWith("/hang")).length).toBe(held);
    });
  },
);
