/**
 * Alerting end to end: the real server process, a real HTTP receiver
 * (node:http on a free port), real time with small windows (1 s live
 * resolution, `for` of 2 s). A rule fires after `for` and the receiver gets
 * exactly the expected Alertmanager v4 payload, then the resolved one; a
 * silenced alert is not sent; a receiver failing 3 times gets the same
 * notification id on every attempt until it succeeds; and a SIGKILL while the
 * receiver is down still delivers after the restart.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type Runtime, type ServerProcess, startServer } from "./server-process.ts";

const KEY = "alerting-test-key-0123456789abcdef";
const ZERO = "0001-01-01T00:00:00Z";

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown> & {
    alerts: (Record<string, unknown> & { labels: Record<string, string> })[];
  };
}

/** A webhook receiver: records every request; `fail(path, n)` answers 500 to the next n requests. */
class Receiver {
  readonly received: Received[] = [];
  readonly #failures = new Map<string, number>();
  readonly #hanging: { end(): void }[] = [];
  #server: Server | null = null;
  constructor(readonly port: number) {}
  fail(path: string, n: number): void {
    this.#failures.set(path, n);
  }
  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }
  listen(): Promise<void> {
    this.#server = createServer((req, res) => {
      let text = "";
      req.on("data", (d) => (text += d));
      req.on("end", () => {
        this.received.push({ path: req.url!, headers: req.headers, body: JSON.parse(text) });
        // `/hang` never answers: the server's webhook timeout has to end the attempt.
        if (req.url === "/hang") return void this.#hanging.push(res);
        const left = this.#failures.get(req.url!) ?? 0;
        if (left > 0) this.#failures.set(req.url!, left - 1);
        res.writeHead(left > 0 ? 500 : 200).end("ok");
      });
    });
    return new Promise((r) => this.#server!.listen(this.port, "127.0.0.1", () => r()));
  }
  close(): Promise<void> {
    for (const res of this.#hanging.splice(0)) res.end();
    return new Promise((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}

const ENV = {
  BOOTSTRAP_API_KEY: KEY,
  LOG_LEVEL: "warn",
  ALLOWED_LATENESS_MS: "0",
  PARTITION_IDLE_MS: "200",
  LIVE_UPDATE_MS: "100",
  ROLLUP_FLUSH_MS: "200",
  ALERTS_EVAL_INTERVAL_MS: "100",
  ALERTS_RETRY_BASE_MS: "100",
  ALERTS_RETRY_MAX_MS: "300",
  ALERTS_WEBHOOK_TIMEOUT_MS: "2000",
};

async function api(server: ServerProcess, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { "x-api-key": KEY, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v as T;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Posts one event per 100 ms for `deviceId` until the returned function is called. */
function feed(
  server: ServerProcess,
  eventType: string,
  deviceId: string,
  value: number,
): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      await fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: { "x-api-key": KEY, "content-type": "application/json" },
        body: JSON.stringify({ deviceId, eventType, value }),
      });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

function rule(name: string, eventType: string, receiver: string) {
  return {
    name,
    eventType,
    aggregate: "avg",
    window: "1s",
    groupBy: "device",
    op: ">",
    threshold: 30,
    for: "2s",
    severity: "critical",
    labels: { team: "ops" },
    annotations: { summary: "{{ $labels.deviceId }} is {{ $value }}" },
    receiver,
  };
}

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

    it("keeps ingesting at full speed while a receiver holds its webhook requests open", async () => {
      const rcv = await api(server, "POST", "/v1/alerts/receivers", {
        name: "hang",
        url: `http://127.0.0.1:${receiver.port}/hang`,
        groupWait: "0s",
      });
      await api(server, "POST", "/v1/alerts/rules", { ...rule("Hot4", "vibration", rcv.body.id), for: "0s" });
      const stop = feed(server, "vibration", "v-1", 70);
      await waitFor("a webhook request held open", () => receiver.at("/hang").length > 0);
      await stop();
      // The attempt is in flight (the timeout is 2 s): ingestion answers as usual meanwhile.
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        const res = await fetch(`${server.url}/v1/events`, {
          method: "POST",
          headers: { "x-api-key": KEY, "content-type": "application/json" },
          body: JSON.stringify({ deviceId: "other", eventType: "ingest-check", value: i }),
        });
        expect(res.status).toBe(202);
        times.push(performance.now() - t);
      }
      expect(receiver.at("/hang").length).toBe(1);
      expect(Math.max(...times)).toBeLessThan(500);
      // The timeout ends the attempt and it is retried with the same id.
      const again = await waitFor("a retry after the timeout", () => receiver.at("/hang")[1], 10_000);
      expect(again.headers["idempotency-key"]).toBe(receiver.at("/hang")[0].headers["idempotency-key"]);
    });
  },
);

describe.each(["deno", "node"] as Runtime[])("alerting across SIGKILL (%s server)", (runtime) => {
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
