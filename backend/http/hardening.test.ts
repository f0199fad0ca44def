import { describe, expect, it } from "vitest";
import { loadConfig } from "../config.ts";
import { withApp } from "../testing/with-app.ts";

describe("CORS", () => {
  it("sends no CORS headers unless configured (same origin only)", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v1/events", { headers: { origin: "https://evil.example" } });
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
    });
  });

  it("allows exactly the configured origins, preflight included", async () => {
    await withApp(async (f) => {
      const ok = await f.request("/v1/events", { headers: { origin: "https://app.example.com" } });
      expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
      expect(ok.headers.get("access-control-expose-headers")).toContain("ratelimit-remaining");
      const other = await f.request("/v1/events", { headers: { origin: "https://evil.example" } });
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
      const preflight = await f.request("/v1/events", {
        method: "OPTIONS",
        key: null,
        headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get("access-control-allow-headers")).toContain("idempotency-key");
    }, { env: { CORS_ORIGINS: "https://app.example.com" } });
  });

  it("validates CORS_ORIGINS", () => {
    expect(() => loadConfig({ CORS_ORIGINS: "app.example.com" })).toThrow(
      'Invalid configuration: CORS_ORIGINS must be "*" or a comma-separated list of origins like https://app.example.com (got "app.example.com")',
    );
    expect(loadConfig({ CORS_ORIGINS: "*" }).corsOrigins).toBe("*");
  });
});

describe("request timeout", () => {
  it("answers 408 to a body that does not arrive in time, storing nothing", async () => {
    await withApp(async (f) => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('[{"deviceId":"d","eventType":"t"}'));
          // never closes: a slow-loris client
        },
      });
      const res = await f.request("/v1/events", { method: "POST", body, duplex: "half" } as RequestInit);
      expect(res.status).toBe(408);
      expect((await res.json()).message).toBe("Request body not received within 200 ms");
      expect((await f.server.store.stats()).events).toBe(0);
    }, { env: { REQUEST_TIMEOUT_MS: "200" } });
  });
});

describe("HTML security headers", () => {
  it("serves the page with CSP, nosniff, frame and referrer policies", async () => {
    await withApp(async (f) => {
      const res = await f.request("/", { key: null });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-security-policy")).toBe(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
          "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
      );
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    }, { indexHtml: "<!doctype html><title>t</title>" });
  });
});

describe("API security headers", () => {
  it("sends X-Content-Type-Options: nosniff on every answer, JSON, text and errors alike", async () => {
    await withApp(async (f) => {
      const answers = [
        await f.request("/v1/events", { method: "POST", body: '{"deviceId":"d","eventType":"t"}' }),
        await f.request("/v1/events", { method: "POST", body: "{" }),
        await f.request("/v1/events?limit=1"),
        await f.request("/v1/events", { key: null }),
        await f.request("/v1/nowhere"),
        await f.request("/readyz?verbose", { key: null }),
        await f.request("/metrics", { key: null }),
      ];
      expect(answers.map((r) => r.status)).toEqual([202, 400, 200, 401, 404, 200, 200]);
      for (const r of answers) expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    });
  });

  it("marks the answer that carries a new key's secret Cache-Control: no-store", async () => {
    await withApp(async (f) => {
      const created = await f.request("/v1/admin/keys", {
        method: "POST",
        body: JSON.stringify({ name: "n", scopes: ["read"] }),
      });
      expect(created.status).toBe(201);
      expect((await created.json()).data.key).toMatch(/^psk_/);
      expect(created.headers.get("cache-control")).toBe("no-store");
    });
  });
});
