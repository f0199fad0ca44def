/**
 * Webhooks cannot reach inside the server's network unless opted in: denied
 * literals are refused at creation (400 on `url`), names are resolved and
 * every address checked at delivery, the request connects to the checked
 * address, redirects are not followed, and `lastError` says only "failed".
 */
import { createServer } from "node:http";
import { describe, expect, it } from "vitest";
import { nodeWebhookClient } from "../adapters/webhook-client.ts";
import { createLogger } from "../logger.ts";
import { FakeClock, withApp } from "../testing/with-app.ts";
import { apiError, ENV, json, minute, NOW, post, useHookReceiver } from "../testing/alert-fixture.ts";
import type { WebhookClient } from "./webhook-client.ts";

const hook = useHookReceiver();
const RULE = { name: "Any", eventType: "temperature", aggregate: "max", window: "1m", op: ">", threshold: 0 };
/** Without the fixture's opt-in of 127.0.0.1. */
const DEFAULT_ENV = { ALERTS_EVAL_INTERVAL_MS: ENV.ALERTS_EVAL_INTERVAL_MS };
/** `hooks.rebind.test` (a name no DNS knows) resolves to 127.0.0.1; every other name as usual. */
const rebinding: WebhookClient = {
  resolve: (host) =>
    host === "hooks.rebind.test" ? Promise.resolve(["127.0.0.1"]) : nodeWebhookClient.resolve(host),
  post: (target, request) => nodeWebhookClient.post(target, request),
};

/** A logger keeping the warnings of notification attempts. */
function attemptLog() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger("warn", {
    sink: (line) => {
      const parsed = JSON.parse(line);
      if (parsed.msg === "notification attempt failed") lines.push(parsed);
    },
  });
  return { lines, logger };
}

async function notifications(f: { request(path: string): Promise<Response> }, status: string) {
  return (await (await f.request(`/v1/alerts/notifications?status=${status}`)).json()).notifications;
}

describe("webhook SSRF guard", () => {
  it("refuses receivers at denied literals in every spelling with 400 on url, on create and update", async () => {
    await withApp(async (f) => {
      const create = (url: string) =>
        f.request("/v1/alerts/receivers", { method: "POST", body: json({ name: "r", url }) });
      const forms: [string, string][] = [
        ["http://127.0.0.1:8080/", "127.0.0.1 is not allowed (loopback address"],
        ["http://2130706433:8080/", "127.0.0.1 is not allowed (loopback address"],
        ["http://0x7f.1/", "127.0.0.1 is not allowed (loopback address"],
        ["http://0177.0.0.1/", "127.0.0.1 is not allowed (loopback address"],
        ["http://[::1]/", "[::1] is not allowed (loopback address"],
        ["http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1] is not allowed (loopback (IPv4 in IPv6) address"],
        ["http://169.254.169.254/latest/meta-data", "169.254.169.254 is not allowed (link-local address"],
        ["http://[fe80::1]/", "[fe80::1] is not allowed (link-local address"],
        ["https://10.0.0.1/", "10.0.0.1 is not allowed (private address"],
        ["https://172.16.5.4/", "172.16.5.4 is not allowed (private address"],
        ["https://192.168.0.10/", "192.168.0.10 is not allowed (private address"],
        ["https://100.64.0.1/", "100.64.0.1 is not allowed (shared (CGNAT) address"],
        ["https://[fd00::1]/", "[fd00::1] is not allowed (private address"],
        ["http://0.0.0.0/", "0.0.0.0 is not allowed (unspecified address"],
        ["http://224.0.0.1/", "224.0.0.1 is not allowed (multicast address"],
      ];
      for (const [url, why] of forms) {
        const res = await create(url);
        expect([url, res.status]).toEqual([url, 400]);
        expect(await res.json()).toEqual(apiError("Invalid receiver", [
          { field: "url", message: `url host ${why}, not in ALERTS_WEBHOOK_ALLOWED_NETWORKS)` },
        ]));
      }
      const ok = await create("https://hooks.example.com/x");
      expect(ok.status).toBe(201);
      const { id } = await ok.json();
      const put = await f.request(`/v1/alerts/receivers/${id}`, {
        method: "PUT",
        body: json({ name: "r", url: "http://[::ffff:a9fe:a9fe]/" }),
      });
      expect(put.status).toBe(400);
      expect((await put.json()).errors).toEqual([{
        field: "url",
        message: "url host [::ffff:a9fe:a9fe] is not allowed (link-local (IPv4 in IPv6) address, " +
          "not in ALERTS_WEBHOOK_ALLOWED_NETWORKS)",
      }]);
      expect((await f.server.store.alerts.listReceivers()).map((r) => r.url)).toEqual([
        "https://hooks.example.com/x",
      ]);
    }, { env: DEFAULT_ENV });
  });

  it("accepts only the networks opted in", async () => {
    await withApp(async (f) => {
      const create = (url: string) =>
        f.request("/v1/alerts/receivers", { method: "POST", body: json({ name: "r", url }) });
      expect((await create("http://127.0.0.1:9/")).status).toBe(201);
      expect((await create("http://10.1.2.3/")).status).toBe(201);
      expect((await create("http://127.0.0.2:9/")).status).toBe(400);
      expect((await create("http://10.2.0.1/")).status).toBe(400);
    }, { env: { ...DEFAULT_ENV, ALERTS_WEBHOOK_ALLOWED_NETWORKS: "127.0.0.1, 10.1.0.0/16" } });
  });

  it("refuses at delivery a name that resolves to loopback; lastError says only 'failed'", async () => {
    const clock = new FakeClock(NOW);
    const { lines, logger } = attemptLog();
    await withApp(async (f) => {
      const before = hook.received.length;
      const url = `http://hooks.rebind.test:${hook.port}/hook`;
      const rcv = await post(f, "/v1/alerts/receivers", { name: "R", url, groupWait: "0s" });
      await post(f, "/v1/alerts/rules", { ...RULE, receiver: rcv.id });
      await minute(f, clock, { "s-1": 5 });
      expect(hook.received.length).toBe(before);
      const [item] = await notifications(f, "pending");
      expect(item).toMatchObject({ status: "pending", attempts: 1, lastError: "failed" });
      expect(lines).toEqual([expect.objectContaining({
        notificationId: item.id,
        error: "failed",
        cause: "address not allowed: hooks.rebind.test resolves to 127.0.0.1: loopback address",
        dead: false,
      })]);
    }, { clock, env: DEFAULT_ENV, logger, webhookClient: rebinding });
  });

  it("opted in, connects to the address it checked (the name is never resolved again)", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const before = hook.received.length;
      const url = `http://hooks.rebind.test:${hook.port}/pinned`;
      const rcv = await post(f, "/v1/alerts/receivers", { name: "R", url, groupWait: "0s" });
      await post(f, "/v1/alerts/rules", { ...RULE, receiver: rcv.id });
      await minute(f, clock, { "s-1": 5 });
      // No DNS server knows hooks.rebind.test: only the checked address can have been used.
      expect(hook.received.slice(before).map((r) => [r.path, r.headers.host])).toEqual([
        ["/pinned", `hooks.rebind.test:${hook.port}`],
      ]);
      expect(await notifications(f, "sent")).toEqual([
        expect.objectContaining({ status: "sent", lastError: null }),
      ]);
    }, {
      clock,
      env: { ...DEFAULT_ENV, ALERTS_WEBHOOK_ALLOWED_NETWORKS: "127.0.0.1" },
      webhookClient: rebinding,
    });
  });

  it("does not follow a redirect, and shows an answer's status only in the log", async () => {
    const clock = new FakeClock(NOW);
    const { lines, logger } = attemptLog();
    const paths: string[] = [];
    const redirector = createServer((req, res) => {
      paths.push(req.url!);
      res.writeHead(307, { location: `http://169.254.169.254/latest/meta-data` }).end();
    });
    await new Promise<void>((r) => redirector.listen(0, "127.0.0.1", () => r()));
    const port = (redirector.address() as { port: number }).port;
    try {
      await withApp(async (f) => {
        const rcv = await post(f, "/v1/alerts/receivers", {
          name: "R",
          url: `http://127.0.0.1:${port}/go`,
          groupWait: "0s",
        });
        await post(f, "/v1/alerts/rules", { ...RULE, receiver: rcv.id });
        await minute(f, clock, { "s-1": 5 });
        expect(paths).toEqual(["/go"]);
        const [item] = await notifications(f, "pending");
        expect(item).toMatchObject({ status: "pending", attempts: 1, lastError: "failed" });
        expect(lines.map((l) => l.cause)).toEqual(["receiver answered 307"]);
      }, { clock, env: ENV, logger });
    } finally {
      await new Promise((r) => redirector.close(r));
    }
  });
});
