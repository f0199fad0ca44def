/** The alerting API's receivers: validation, scopes, what `read` keys see of a URL. */
import { describe, expect, it } from "vitest";
import { withApp } from "../testing/with-app.ts";
import { apiError as error, json, readKey } from "../testing/alert-fixture.ts";

describe("alerting API: receivers and scopes", () => {
  it("refuses receivers with non-http URLs, bad durations and bodies that are not JSON or too large", async () => {
    await withApp(async (f) => {
      const bad = await f.request("/v1/alerts/receivers", {
        method: "POST",
        body: json({ name: "x", url: "file:///etc/passwd", groupWait: "soon", groupBy: "alertname" }),
      });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual(error("Invalid receiver", [
        { field: "url", message: "url must be an absolute http:// or https:// URL" },
        {
          field: "groupWait",
          message:
            'groupWait must be a duration like "30s", "5m", "1h" (or integer ms) from 0 ms to 604800000 ms',
        },
        { field: "groupBy", message: "groupBy must be an array of at most 16 label names" },
      ]));
      const creds = await f.request("/v1/alerts/receivers", {
        method: "POST",
        body: json({ name: "x", url: "https://user:pw@example.com/" }),
      });
      expect(await creds.json()).toEqual(error("Invalid receiver", [
        { field: "url", message: "url must not carry credentials" },
      ]));
      const notJson = await f.request("/v1/alerts/receivers", { method: "POST", body: "{", headers: {} });
      expect(notJson.status).toBe(400);
      expect(await notJson.json()).toEqual(
        error("Request body is not valid JSON", [{ field: "body", message: "malformed JSON" }]),
      );
      const text = await f.request("/v1/alerts/receivers", {
        method: "POST",
        body: "{}",
        headers: { "content-type": "text/plain" },
      });
      expect(text.status).toBe(415);
      const big = await f.request("/v1/alerts/receivers", {
        method: "POST",
        body: json({ name: "x".repeat(70_000) }),
      });
      expect(big.status).toBe(413);
      expect(await big.json()).toEqual(error("Body larger than 65536 bytes", [
        { field: "body", message: "Body larger than 65536 bytes" },
      ]));
      expect(await f.server.store.alerts.listReceivers()).toEqual([]);
    });
  });

  it("needs a key (401), admin for every change (403), and read for reads", async () => {
    await withApp(async (f) => {
      const reader = await readKey(f);
      const missing = await f.request("/v1/alerts/rules", { key: null });
      expect(missing.status).toBe(401);
      expect(await missing.json()).toEqual(
        error("Missing API key: send x-api-key or Authorization: Bearer <key>"),
      );
      expect((await f.request("/v1/alerts", { key: "nope-nope-nope-nope" })).status).toBe(401);
      for (
        const [method, path] of [
          ["POST", "/v1/alerts/rules"],
          ["PUT", "/v1/alerts/rules/rul_0000000000000000"],
          ["DELETE", "/v1/alerts/rules/rul_0000000000000000"],
          ["POST", "/v1/alerts/receivers"],
          ["PUT", "/v1/alerts/receivers/rcv_0000000000000000"],
          ["DELETE", "/v1/alerts/receivers/rcv_0000000000000000"],
          ["POST", "/v1/alerts/silences"],
          ["DELETE", "/v1/alerts/silences/sil_0000000000000000"],
        ]
      ) {
        const res = await f.request(path, {
          method,
          key: reader,
          body: method === "GET" || method === "DELETE" ? undefined : "{}",
        });
        expect([method, path, res.status]).toEqual([method, path, 403]);
        expect(await res.json()).toEqual(error("API key lacks the 'admin' scope"));
      }
      for (
        const path of [
          "/v1/alerts",
          "/v1/alerts/rules",
          "/v1/alerts/silences",
          "/v1/alerts/history",
          "/v1/alerts/receivers",
        ]
      ) {
        expect([path, (await f.request(path, { key: reader })).status]).toEqual([path, 200]);
      }
    });
  });

  it("lists receivers to read keys with each URL cut to its origin, to admin keys whole", async () => {
    await withApp(async (f) => {
      const url = "https://hooks.example.com:8443/services/T0/SECRET-TOKEN?token=abc#frag";
      const created = await f.request("/v1/alerts/receivers", {
        method: "POST",
        body: json({ name: "slack", url }),
      });
      const rcv = await created.json();
      const reader = await readKey(f);
      const asReader = await f.request("/v1/alerts/receivers", { key: reader });
      expect(asReader.status).toBe(200);
      const text = await asReader.text();
      expect(JSON.parse(text)).toEqual({ receivers: [{ ...rcv, url: "https://hooks.example.com:8443" }] });
      expect(text).not.toContain("SECRET");
      expect(await (await f.request("/v1/alerts/receivers")).json()).toEqual({ receivers: [rcv] });
      // A key with the admin scope alone sees them whole; one with neither scope is refused.
      const keys = async (scopes: string[]) =>
        (await (await f.request("/v1/admin/keys", { method: "POST", body: json({ name: "k", scopes }) }))
          .json()).data.key;
      const adminOnly = await keys(["admin"]);
      expect(await (await f.request("/v1/alerts/receivers", { key: adminOnly })).json()).toEqual({
        receivers: [rcv],
      });
      const ingest = await f.request("/v1/alerts/receivers", { key: await keys(["ingest"]) });
      expect(ingest.status).toBe(403);
      expect(await ingest.json()).toEqual(error("API key lacks the 'read' scope"));
    });
  });

  it("with ALERTS_WEBHOOK_ALLOWED_HOSTS, refuses receivers to other hosts on create and update", async () => {
    await withApp(async (f) => {
      const create = (url: string) =>
        f.request("/v1/alerts/receivers", { method: "POST", body: json({ name: "r", url }) });
      expect((await create("https://hooks.example.com/a")).status).toBe(201);
      expect((await create("https://x.ops.example.com:8443/b")).status).toBe(201);
      for (
        const [url, host] of [
          ["https://evil.test/a", "evil.test"],
          ["https://ops.example.com:8443/", "ops.example.com:8443"],
          ["https://x.ops.example.com/", "x.ops.example.com"],
          ["http://127.0.0.1:9/", "127.0.0.1:9"],
        ]
      ) {
        const res = await create(url);
        expect([url, res.status]).toEqual([url, 400]);
        expect(await res.json()).toEqual(error("Invalid receiver", [
          { field: "url", message: `url host ${host} is not in ALERTS_WEBHOOK_ALLOWED_HOSTS` },
        ]));
      }
      const [first] = (await (await f.request("/v1/alerts/receivers")).json()).receivers;
      const put = await f.request(`/v1/alerts/receivers/${first.id}`, {
        method: "PUT",
        body: json({ name: "r", url: "http://169.254.169.254/latest/meta-data" }),
      });
      expect(put.status).toBe(400);
      expect((await put.json()).errors).toEqual([
        { field: "url", message: "url host 169.254.169.254 is not in ALERTS_WEBHOOK_ALLOWED_HOSTS" },
      ]);
      expect((await f.server.store.alerts.listReceivers()).map((r) => r.url).sort()).toEqual([
        "https://hooks.example.com/a",
        "https://x.ops.example.com:8443/b",
      ]);
    }, { env: { ALERTS_WEBHOOK_ALLOWED_HOSTS: "hooks.example.com,*.ops.example.com:8443" } });
  });
});
