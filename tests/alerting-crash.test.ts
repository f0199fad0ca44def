/**
 * Alerting across SIGKILL: the real server process (Deno and Node), a real
 * HTTP receiver, the process killed with SIGKILL at the moments a
 * notification is most exposed (its receiver down, its group waiting,
 * its request held open by the receiver) and started again on the same file.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { api, ENV, feed, Receiver, rule, waitFor } from "./alerting-helpers.ts";
import { freePort, type Runtime, startServer } from "./server-process.ts";

describe.each(["deno", "node"] as Runtime[])("alerting across SIGKILL (%s server)", (runtime) => {
  /** A server on a fresh file and a receiver; `restart()` kills it with SIGKILL and starts it again. */
  async function crashable(env: Record<string, string> = {}) {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-alerting-kill-"));
    const receiver = new Receiver(await freePort());
    const fullEnv = { ...ENV, DATABASE_URL: `file:${join(dir, "k.db")}`, ...env };
    const box = { server: await startServer(runtime, fullEnv), receiver };
    return {
      box,
      async restart() {
        expect(await box.server.kill("SIGKILL")).toBe(null);
        box.server = await startServer(runtime, fullEnv);
      },
      async cleanup() {
        await box.server.kill("SIGTERM");
        await receiver.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  it("sends a notification whose group was waiting (groupWait) at the kill, once the wait is over", async () => {
    const c = await crashable();
    try {
      await c.box.receiver.listen();
      const { server } = c.box;
      const rcv = await api(server, "POST", "/v1/alerts/receivers", {
        name: "wait",
        url: `http://127.0.0.1:${c.box.receiver.port}/wait`,
        groupWait: "4s",
      });
      // A 10 s window bridges the restart: the alert is still firing when its group's wait ends (an
      // alert that resolved before it was ever sent is not sent, as in Alertmanager).
      await api(server, "POST", "/v1/alerts/rules", {
        ...rule("Waiting", "flow", rcv.body.id),
        window: "10s",
        for: "0s",
      });
      const stop = feed(server, "flow", "f-1", 80);
      const waiting = await waitFor("a notification waiting for its group", async () => {
        const { notifications } = (await api(server, "GET", "/v1/alerts/notifications?status=waiting")).body;
        return notifications[0];
      });
      await stop();
      expect(c.box.receiver.at("/wait")).toEqual([]);
      await c.restart();
      const resume = feed(c.box.server, "flow", "f-1", 80);
      const delivered = await waitFor("delivery after the restart", () => c.box.receiver.at("/wait")[0]);
      await resume();
      expect(delivered.headers["idempotency-key"]).toBe(waiting.id);
      expect(delivered.at).toBeGreaterThanOrEqual(Date.parse(waiting.dueAt));
      expect(delivered.body.alerts.map((a) => [a.status, a.labels.deviceId])).toEqual([["firing", "f-1"]]);
      await new Promise((r) => setTimeout(r, 500));
      expect(c.box.receiver.at("/wait").length).toBe(1);
    } finally {
      await c.cleanup();
    }
  });

  it("sends again, with the same id, a notification the receiver held unanswered at the kill", async () => {
    const c = await crashable({ ALERTS_WEBHOOK_TIMEOUT_MS: "30000" });
    try {
      await c.box.receiver.listen();
      c.box.receiver.hold("/held", 1);
      const { server } = c.box;
      const rcv = await api(server, "POST", "/v1/alerts/receivers", {
        name: "held",
        url: `http://127.0.0.1:${c.box.receiver.port}/held`,
        groupWait: "0s",
      });
      await api(server, "POST", "/v1/alerts/rules", { ...rule("Held", "torque", rcv.body.id), for: "0s" });
      const stop = feed(server, "torque", "t-1", 90);
      const first = await waitFor("the held request", () => c.box.receiver.at("/held")[0]);
      await stop();
      await c.restart();
      const again = await waitFor(
        "the same notification after the restart",
        () => c.box.receiver.at("/held")[1],
      );
      expect(again.headers["idempotency-key"]).toMatch(/^ntf_[0-9a-f]{32}$/);
      expect(again.headers["idempotency-key"]).toBe(first.headers["idempotency-key"]);
      expect(again.headers["x-pulsestream-notification-id"]).toBe(first.headers["idempotency-key"]);
      expect(again.body).toEqual(first.body);
      const sent = await waitFor("the item marked sent", async () => {
        const { notifications } = (await api(
          server === c.box.server ? server : c.box.server,
          "GET",
          "/v1/alerts/notifications?status=sent",
        )).body;
        return notifications.find((n: { id: string }) => n.id === first.headers["idempotency-key"]);
      });
      expect(sent).toMatchObject({ status: "sent", attempts: 1 });
    } finally {
      await c.cleanup();
    }
  });

  it("delivers a notification that was due when the server was killed, after the restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-alerting-kill-"));
    const port = await freePort();
    const receiver = new Receiver(port);
    const env = { ...ENV, DATABASE_URL: `file:${join(dir, "k.db")}`, ALERTS_RETRY_MAX_MS: "200" };
    let server = await startServer(runtime, env);
    try {
      const rcv = await api(server, "POST", "/v1/alerts/receivers", {
        name: "down",
        url: `http://127.0.0.1:${port}/down`,
        groupWait: "0s",
      });
      await api(server, "POST", "/v1/alerts/rules", rule("Crash", "load", rcv.body.id));
      const stop = feed(server, "load", "l-1", 90);
      // The receiver is down: wait until delivery has failed at least once, then kill.
      const failed = await waitFor("a failed attempt", () => {
        const line = server.stderr().split("\n").find((l) => l.includes("notification attempt failed"));
        return line ? JSON.parse(line) : undefined;
      });
      await stop();
      expect(await server.kill("SIGKILL")).toBe(null);
      await receiver.listen();
      server = await startServer(runtime, env);
      const delivered = await waitFor("delivery after restart", () => receiver.at("/down")[0]);
      expect(delivered.headers["idempotency-key"]).toBe(failed.notificationId);
      expect(delivered.body.status).toBe("firing");
      expect(delivered.body.alerts.map((a) => [a.status, a.labels.deviceId])).toEqual([["firing", "l-1"]]);
    } finally {
      await server.kill("SIGTERM");
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
