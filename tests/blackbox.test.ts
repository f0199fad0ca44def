/**
 * Black-box tests: the real server process under Deno and under Node, over
 * real HTTP, on a real SQLite file.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type Runtime, runToExit, type ServerProcess, startServer } from "./server-process.ts";

for (const runtime of ["deno", "node"] as Runtime[]) {
  describe(`server under ${runtime}`, () => {
    let dir: string;
    let server: ServerProcess;
    let key: string;
    const dbUrl = () => `file:${join(dir, "bb.db")}`;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), `pulsestream-bb-${runtime}-`));
      server = await startServer(runtime, { DATABASE_URL: dbUrl(), LOG_LEVEL: "info" });
    });
    afterAll(async () => {
      await server?.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    });

    it("creates and prints an admin key once on first start", async () => {
      const printed = server.stdout().match(/psk_[A-Za-z0-9_-]{43}/g);
      expect(printed).toHaveLength(1);
      key = printed![0];
      const res = await fetch(`${server.url}/v1/events?limit=1`, { headers: { "x-api-key": key } });
      expect(res.status).toBe(200);
    });

    it("ingests single events and gzip NDJSON over HTTP and reads them back", async () => {
      const single = await fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json", "x-request-id": "bb-1" },
        body: JSON.stringify({
          id: "bb-single",
          deviceId: "dev",
          eventType: "temp",
          value: 20.25,
          metadata: { room: "a" },
        }),
      });
      expect(single.status).toBe(202);
      expect(single.headers.get("x-request-id")).toBe("bb-1");
      expect((await single.json()).data.id).toBe("bb-single");

      const lines = Array.from(
        { length: 300 },
        (_, i) => JSON.stringify({ id: `bb-${i}`, deviceId: `d${i % 3}`, eventType: "temp", value: i }),
      );
      const batch = await fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${key}`,
          "content-type": "application/x-ndjson",
          "content-encoding": "gzip",
        },
        body: gzipSync(lines.join("\n")),
      });
      expect(batch.status).toBe(202);
      expect((await batch.json()).data.totals).toEqual({
        received: 300,
        accepted: 300,
        duplicate: 0,
        rejected: 0,
      });

      const read = await fetch(`${server.url}/v1/events/bb-single`, { headers: { "x-api-key": key } });
      expect((await read.json()).data).toMatchObject({
        id: "bb-single",
        deviceId: "dev",
        value: 20.25,
        metadata: { room: "a" },
      });
      const page = await fetch(`${server.url}/v1/events?deviceId=d1&limit=1000`, {
        headers: { "x-api-key": key },
      });
      expect((await page.json()).data.events).toHaveLength(100);
      const health = await (await fetch(`${server.url}/health`)).json();
      expect(health.store.events).toBe(301);
      // Deno commits on a writer worker with node:sqlite; Node 20 has only @libsql/client.
      expect(health.store.engine).toBe(
        runtime === "deno" ? "sqlite (node:sqlite (writer worker))" : "sqlite (@libsql/client)",
      );
    });

    it("writes one JSON log line per request", async () => {
      await fetch(`${server.url}/livez`, { headers: { "x-request-id": "log-probe-1" } });
      await new Promise((r) => setTimeout(r, 100));
      const lines = server.stdout().split("\n").filter((l) => l.includes('"log-probe-1"'));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0])).toMatchObject({
        level: "info",
        msg: "request",
        method: "GET",
        route: "/livez",
        status: 200,
      });
    });

    it("keeps events and keys across a restart and prints no new key", async () => {
      await server.kill("SIGTERM");
      server = await startServer(runtime, { DATABASE_URL: dbUrl(), LOG_LEVEL: "warn" });
      expect(server.stdout()).not.toMatch(/psk_/);
      const health = await (await fetch(`${server.url}/health`)).json();
      expect(health.store.events).toBe(301);
      const res = await fetch(`${server.url}/v1/events/bb-0`, { headers: { "x-api-key": key } });
      expect(res.status).toBe(200);
    });

    it("manages keys from the CLI against the running server's store", async () => {
      if (runtime !== "deno") return; // the CLI is a Deno task; one run is enough
      const env = { DATABASE_URL: dbUrl() };
      const created = await runCli(["create", "--name", "from-cli", "--scopes", "ingest"], env);
      expect(created.code).toBe(0);
      const cliKey = JSON.parse(created.stdout);
      expect(cliKey).toMatchObject({ name: "from-cli", scopes: ["ingest"], status: "active" });
      const post = await fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: { "x-api-key": cliKey.key, "content-type": "application/json" },
        body: JSON.stringify({ deviceId: "cli", eventType: "t" }),
      });
      expect(post.status).toBe(202);
      const revoked = await runCli(["revoke", cliKey.id], env);
      expect(JSON.parse(revoked.stdout)).toMatchObject({ id: cliKey.id, status: "revoked" });
      const refused = await fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: { "x-api-key": cliKey.key, "content-type": "application/json" },
        body: JSON.stringify({ deviceId: "cli", eventType: "t" }),
      });
      expect(refused.status).toBe(401);
      const bad = await runCli(["create", "--name", "x", "--scopes", "write"], env);
      expect(bad.code).toBe(1);
      expect(bad.stderr.trim()).toBe("unknown scope(s): write (use ingest, read, admin)");
      const audit = await fetch(`${server.url}/v1/admin/audit?limit=2`, { headers: { "x-api-key": key } });
      expect(
        (await audit.json()).data.entries.map((e: { actor: string; action: string }) =>
          `${e.actor} ${e.action}`
        ),
      )
        .toEqual(["cli key.revoked", "cli key.created"]);
    });

    it("replays an Idempotency-Key after SIGKILL and restart with the first answer", async () => {
      const send = () =>
        fetch(`${server.url}/v1/events`, {
          method: "POST",
          headers: { "x-api-key": key, "content-type": "application/json", "idempotency-key": "kill-replay" },
          body: JSON.stringify([{ deviceId: "k", eventType: "t", value: 1 }, {
            deviceId: "k",
            eventType: "t",
            value: 2,
          }]),
        });
      const first = await send();
      expect(first.status).toBe(202);
      const firstBody = await first.text();
      await server.kill("SIGKILL");
      server = await startServer(runtime, { DATABASE_URL: dbUrl(), LOG_LEVEL: "warn" });
      const replay = await send();
      expect(replay.status).toBe(202);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await replay.text()).toBe(firstBody);
    });

    it("refuses a bad configuration with one line naming the variable", async () => {
      const result = await runToExit(runtime, { PORT: "eighty", DATABASE_URL: dbUrl() });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        'Invalid configuration: PORT must be an integer from 0 to 65535 (got "eighty")',
      );
    });
  });
}
