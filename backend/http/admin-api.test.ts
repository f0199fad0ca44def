import { describe, expect, it, vi } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const json = (v: unknown) => JSON.stringify(v);

describe("admin API: keys and audit", () => {
  it("creates a scoped key whose secret is shown once and works at once", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v1/admin/keys", {
        method: "POST",
        body: json({ name: "sensor fleet", scopes: ["ingest"] }),
      });
      expect(res.status).toBe(201);
      const { data } = await res.json();
      expect(data).toEqual({
        id: expect.stringMatching(/^key_[0-9a-f]{16}$/),
        name: "sensor fleet",
        scopes: ["ingest"],
        status: "active",
        createdAt: new Date(NOW).toISOString(),
        lastUsedAt: null,
        expiresAt: null,
        revokedAt: null,
        rateLimit: null,
        key: expect.stringMatching(/^psk_[A-Za-z0-9_-]{43}$/),
      });
      const post = await f.request("/v1/events", {
        method: "POST",
        key: data.key,
        body: json({ deviceId: "d", eventType: "t" }),
      });
      expect(post.status).toBe(202);
      const read = await f.request("/v1/events", { key: data.key });
      expect(read.status).toBe(403);
      expect((await read.json()).message).toBe("API key lacks the 'read' scope");

      const list = await (await f.request("/v1/admin/keys")).json();
      const listed = list.data.keys.find((k: { id: string }) => k.id === data.id);
      expect(listed).toEqual({
        ...data,
        key: undefined,
        lastUsedAt: expect.toBeOneOf([null, new Date(NOW).toISOString()]),
      });
      // Last use is recorded asynchronously (at most once a minute per key), so wait for it.
      await vi.waitFor(async () => expect((await f.server.store.getApiKey(data.id))!.lastUsedAt).toBe(NOW));
      expect(JSON.stringify(list)).not.toContain(data.key);
      expect(JSON.stringify(list)).not.toMatch(/keyHash|[0-9a-f]{64}/);
    }, { clock: new FakeClock(NOW) });
  });

  it("revokes a key so that its very next request is refused, and audits both actions", async () => {
    await withApp(async (f) => {
      const { data: key } = await (await f.request("/v1/admin/keys", {
        method: "POST",
        body: json({ name: "temp", scopes: ["ingest", "read"] }),
        headers: { "x-request-id": "create-1" },
      })).json();
      expect((await f.request("/v1/events", { key: key.key })).status).toBe(200);
      const revoke = await f.request(`/v1/admin/keys/${key.id}`, { method: "DELETE" });
      expect(revoke.status).toBe(200);
      expect((await revoke.json()).data).toMatchObject({
        id: key.id,
        status: "revoked",
        revokedAt: new Date(NOW).toISOString(),
      });
      const refused = await f.request("/v1/events", { key: key.key });
      expect(refused.status).toBe(401);
      expect((await refused.json()).message).toBe("API key has been revoked");
      expect((await f.request(`/v1/admin/keys/${key.id}`, { method: "DELETE" })).status).toBe(200);
      expect((await f.request("/v1/admin/keys/key_nope", { method: "DELETE" })).status).toBe(404);

      const audit = await (await f.request("/v1/admin/audit")).json();
      const adminId = (await f.server.store.listApiKeys()).find((k) => k.name === "bootstrap")!.id;
      expect(audit.data.entries.map((e: Record<string, unknown>) => ({ ...e, seq: undefined }))).toEqual([
        {
          at: new Date(NOW).toISOString(),
          actor: adminId,
          action: "key.revoked",
          target: key.id,
          address: null,
          details: { name: "temp" },
        },
        {
          at: new Date(NOW).toISOString(),
          actor: adminId,
          action: "key.created",
          target: key.id,
          address: null,
          details: { name: "temp", scopes: ["ingest", "read"], expiresAt: null },
        },
      ]);
    }, { clock: new FakeClock(NOW) });
  });

  it("pages the audit log with a cursor", async () => {
    await withApp(async (f) => {
      for (let i = 0; i < 3; i++) {
        await f.request("/v1/admin/keys", {
          method: "POST",
          body: json({ name: `k${i}`, scopes: ["read"] }),
        });
      }
      const first = await (await f.request("/v1/admin/audit?limit=2")).json();
      expect(first.data.entries.map((e: { details: { name: string } }) => e.details.name)).toEqual([
        "k2",
        "k1",
      ]);
      const second = await (await f.request(`/v1/admin/audit?limit=2&cursor=${first.data.nextCursor}`))
        .json();
      expect(second.data.entries.map((e: { details: { name: string } }) => e.details.name)).toEqual(["k0"]);
      expect(second.data.nextCursor).toBeNull();
      expect((await f.request("/v1/admin/audit?limit=0")).status).toBe(400);
    });
  });

  it("honours expiry", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const { data } = await (await f.request("/v1/admin/keys", {
        method: "POST",
        body: json({ name: "short", scopes: ["read"], expiresAt: new Date(NOW + 60_000).toISOString() }),
      })).json();
      expect(data.expiresAt).toBe(new Date(NOW + 60_000).toISOString());
      expect((await f.request("/v1/events", { key: data.key })).status).toBe(200);
      clock.advance(60_000);
      const expired = await f.request("/v1/events", { key: data.key });
      expect(expired.status).toBe(401);
      expect((await expired.json()).message).toBe("API key has expired");
    }, { clock });
  });

  it("refuses bad key requests with every bad field and creates nothing", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v1/admin/keys", {
        method: "POST",
        body: json({ name: "", scopes: ["write"], expiresAt: "soon", extra: 1 }),
      });
      expect(res.status).toBe(400);
      expect((await res.json()).errors).toEqual([
        { field: "name", message: "name must not be empty" },
        { field: "scopes.0", message: "scopes must be among ingest, read, admin" },
        { field: "extra", message: "unknown field(s): extra" },
        { field: "expiresAt", message: "expiresAt must be epoch ms, ISO-8601 or now-<n>(s|m|h|d|w)" },
      ]);
      const past = await f.request("/v1/admin/keys", {
        method: "POST",
        body: json({ name: "p", scopes: ["read"], expiresAt: NOW - 1 }),
      });
      expect((await past.json()).errors).toEqual([{
        field: "expiresAt",
        message: "expiresAt must be in the future",
      }]);
      expect((await f.request("/v1/admin/keys", { method: "POST", body: "{" })).status).toBe(400);
      expect(await f.server.store.countApiKeys()).toBe(1);
    }, { clock: new FakeClock(NOW) });
  });

  it("needs the admin scope", async () => {
    await withApp(async (f) => {
      const { data } = await (await f.request("/v1/admin/keys", {
        method: "POST",
        body: json({ name: "r", scopes: ["read", "ingest"] }),
      })).json();
      for (
        const [method, path] of [["GET", "/v1/admin/keys"], ["POST", "/v1/admin/keys"], [
          "GET",
          "/v1/admin/audit",
        ]]
      ) {
        const res = await f.request(path, {
          method,
          key: data.key,
          body: method === "POST" ? json({ name: "x", scopes: ["admin"] }) : undefined,
        });
        expect(res.status).toBe(403);
        expect((await res.json()).message).toBe("API key lacks the 'admin' scope");
      }
      expect((await f.request("/v1/admin/keys", { key: null })).status).toBe(401);
      expect(await f.server.store.countApiKeys()).toBe(2);
    });
  });
});
