/**
 * The webhook SSRF guard on the real server process with its runtime's
 * resolver: by default a receiver at a loopback literal is refused at
 * creation, and one at `localhost` (a name, accepted at creation) is refused
 * at delivery after resolution. The receiver hears nothing, the API's
 * `lastError` says "failed", and only the server log says why.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, ENV, feed, Receiver, rule, waitFor } from "./alerting-helpers.ts";
import { freePort, type Runtime, type ServerProcess, startServer } from "./server-process.ts";

// The default: no network opted in.
const { ALERTS_WEBHOOK_ALLOWED_NETWORKS: _optIn, ...DEFAULT_ENV } = ENV;

describe.each(["deno", "node"] as Runtime[])("webhook SSRF guard (%s server)", (runtime) => {
  let dir: string;
  let server: ServerProcess;
  let receiver: Receiver;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pulsestream-ssrf-"));
    receiver = new Receiver(await freePort());
    await receiver.listen();
    server = await startServer(runtime, { ...DEFAULT_ENV, DATABASE_URL: `file:${join(dir, "s.db")}` });
  });
  afterAll(async () => {
    await server?.kill("SIGTERM");
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a loopback literal at creation and `localhost` after resolving it, saying only 'failed'", async () => {
    for (const url of [`http://127.0.0.1:${receiver.port}/hook`, `http://0x7f.1:${receiver.port}/hook`]) {
      const refused = await api(server, "POST", "/v1/alerts/receivers", { name: "lit", url });
      expect([url, refused.status, refused.body.errors]).toEqual([url, 400, [{
        field: "url",
        message:
          "url host 127.0.0.1 is not allowed (loopback address, not in ALERTS_WEBHOOK_ALLOWED_NETWORKS)",
      }]]);
    }
    const rcv = await api(server, "POST", "/v1/alerts/receivers", {
      name: "named",
      url: `http://localhost:${receiver.port}/hook`,
      groupWait: "0s",
    });
    expect(rcv.status).toBe(201);
    const created = await api(
      server,
      "POST",
      "/v1/alerts/rules",
      rule("HighTemp", "temperature", rcv.body.id),
    );
    expect(created.status).toBe(201);
    const stop = feed(server, "temperature", "s-1", 40);
    try {
      const item = await waitFor("a failed attempt", async () => {
        const { body } = await api(server, "GET", "/v1/alerts/notifications?status=pending");
        return body.notifications.find((n: { attempts: number }) => n.attempts >= 1);
      });
      expect(item).toMatchObject({ receiverId: rcv.body.id, status: "pending", lastError: "failed" });
    } finally {
      await stop();
    }
    expect(receiver.received).toEqual([]);
    const attempts = server.stderr().split("\n").filter((l) => l.includes("notification attempt failed"));
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(attempts[0])).toMatchObject({
      error: "failed",
      cause: expect.stringMatching(
        /^address not allowed: localhost resolves to (127\.0\.0\.1|::1): loopback address$/,
      ),
    });
  });
});
