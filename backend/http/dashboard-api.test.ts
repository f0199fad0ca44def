/**
 * What the dashboard relies on from the API: `GET /v1/auth/whoami`, the `stats` snapshot sent at once
 * on subscribing (with ingest outcome totals), and the static routes with their cache headers.
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { ApiKeyHasher } from "../auth/api-keys.ts";
import { KeyUsageRecorder } from "../auth/key-usage.ts";
import { createLogger } from "../logger.ts";
import type { Store } from "../store/store.ts";
import { type AppFixture, FakeClock, withApp } from "../testing/with-app.ts";
import type { AppEnv } from "./app-env.ts";
import { authRoutes } from "./auth-routes.ts";
import { dashboardRoutes } from "./dashboard-routes.ts";
import { errorResponse } from "./error-handler.ts";

describe("GET /v1/auth/whoami", () => {
  it("names the key and its scopes, for any valid key; 401 without one", async () => {
    await withApp(async (f) => {
      const me = await f.request("/v1/auth/whoami");
      expect(me.status).toBe(200);
      expect((await me.json()).data).toMatchObject({
        name: "bootstrap",
        scopes: ["ingest", "read", "admin"],
      });
      const created = await (await f.request("/v1/admin/keys", {
        method: "POST",
        body: JSON.stringify({ name: "only-ingest", scopes: ["ingest"] }),
      })).json();
      const other = await f.request("/v1/auth/whoami", { key: created.data.key });
      expect((await other.json()).data).toEqual({
        keyId: created.data.id,
        name: "only-ingest",
        scopes: ["ingest"],
      });
      expect((await f.request("/v1/auth/whoami", { key: null })).status).toBe(401);
      expect((await f.request("/v1/auth/whoami", { key: "psk_wrong-key-000000000000" })).status).toBe(401);
    });
  });

  it("looks the key up once per call, whatever its scopes", async () => {
    await withApp(async (f) => {
      const created = await (await f.request("/v1/admin/keys", {
        method: "POST",
        body: JSON.stringify({ name: "only-admin", scopes: ["admin"] }),
      })).json();
      // The real store, with its key lookups counted.
      const real = f.server.store;
      let lookups = 0;
      const store = Object.create(real) as Store;
      store.findApiKeyByHash = (hash) => (lookups++, real.findApiKeyByHash(hash));
      const logger = createLogger("silent");
      const clock = new FakeClock();
      const auth = { store, clock, hasher: new ApiKeyHasher(), usage: new KeyUsageRecorder(store, logger) };
      const app = new Hono<AppEnv>().route("/v1/auth", authRoutes({ auth }));
      app.onError((error, c) => errorResponse(error, c, logger));
      const whoami = (key: string) => app.request("/v1/auth/whoami", { headers: { "x-api-key": key } });
      const me = await whoami(created.data.key);
      expect((await me.json()).data).toEqual({
        keyId: created.data.id,
        name: "only-admin",
        scopes: ["admin"],
      });
      expect(lookups).toBe(1);
      expect((await whoami("psk_wrong-key-000000000000")).status).toBe(401);
      expect(lookups).toBe(2);
    });
  });
});

/** The first `stats` message of a new subscriber (the snapshot sent at once; no timing asserted, STYLE). */
async function firstStats(f: AppFixture): Promise<{ ingest: Record<string, number> | null }> {
  const res = await f.request("/v1/stream/sse?channels=stats");
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("event: stats")) text += (await reader.read()).value ?? "";
  await reader.cancel();
  return JSON.parse(/data: (.*)\n/.exec(text.slice(text.indexOf("event: stats")))![1]);
}

/** The sum over every series of `pulsestream_events_total` with `outcome`, from a /metrics scrape. */
function eventsTotal(exposition: string, outcome: string): number {
  let sum = 0;
  for (const m of exposition.matchAll(/^pulsestream_events_total\{([^}]*)\} (\S+)$/gm)) {
    if (m[1].includes(`outcome="${outcome}"`)) sum += Number(m[2]);
  }
  return sum;
}

describe("stats channel", () => {
  it("sends a snapshot at once on subscribing, with the registry's accepted, duplicate, rejected and rate-limited totals", async () => {
    await withApp(async (f) => {
      const batch = [
        { id: "a", deviceId: "d", eventType: "t", value: 1 },
        { id: "a", deviceId: "d", eventType: "t", value: 1 },
        { deviceId: "", eventType: "t" },
      ];
      expect((await f.request("/v1/events", { method: "POST", body: JSON.stringify(batch) })).status).toBe(
        202,
      );
      // burst 3: a batch of 3 passes, then 2 more are refused with 429
      expect(
        (await f.request("/v1/events", {
          method: "POST",
          body: JSON.stringify([{ deviceId: "d", eventType: "t" }, { deviceId: "d", eventType: "t" }]),
        })).status,
      ).toBe(429);
      const { ingest } = await firstStats(f);
      expect(ingest).toEqual({
        accepted: 1,
        duplicate: 1,
        rejected: 1,
        rateLimited: 2,
        commits: 1,
        lastCommitEvents: 2,
        meanCommitEvents: 2,
      });
      // One count: the stats are what a scrape of /metrics says.
      const scrape = await (await f.request("/metrics")).text();
      expect({
        accepted: eventsTotal(scrape, "accepted"),
        duplicate: eventsTotal(scrape, "duplicate"),
        rejected: eventsTotal(scrape, "rejected"),
        rateLimited: eventsTotal(scrape, "rate_limited"),
      }).toEqual({ accepted: 1, duplicate: 1, rejected: 1, rateLimited: 2 });
      expect(scrape).toContain("pulsestream_commit_batch_events_count 1\n");
    }, {
      clock: new FakeClock(),
      env: { RATE_LIMIT_EVENTS_PER_SEC: "1", RATE_LIMIT_BURST: "3", MAX_EVENTS_PER_REQUEST: "3" },
    });
  });

  it("has no ingest figures with METRICS_INSTRUMENTATION=off", async () => {
    await withApp(async (f) => {
      const batch = [{ deviceId: "d", eventType: "t", value: 1 }];
      expect((await f.request("/v1/events", { method: "POST", body: JSON.stringify(batch) })).status).toBe(
        202,
      );
      expect((await firstStats(f)).ingest).toBeNull();
    }, { env: { METRICS_INSTRUMENTATION: "off" } });
  });
});

describe("dashboard routes", () => {
  const files = {
    indexHtml: "<!doctype html><title>x</title>",
    assets: new Map([["app-0123456789ab.js", {
      body: new TextEncoder().encode("console.log(1)"),
      gzip: new Uint8Array([31, 139]),
      contentType: "text/javascript; charset=utf-8",
    }]]),
  };
  const app = dashboardRoutes(files);

  it("serves index.html no-cache with a strict CSP, assets immutable, gzip when accepted", async () => {
    const index = await app.request("/");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    expect(index.headers.get("content-security-policy")).toContain("script-src 'self';");
    const plain = await app.request("/assets/app-0123456789ab.js");
    expect(plain.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(await plain.text()).toBe("console.log(1)");
    const gz = await app.request("/assets/app-0123456789ab.js", {
      headers: { "accept-encoding": "gzip, br" },
    });
    expect(gz.headers.get("content-encoding")).toBe("gzip");
    expect(new Uint8Array(await gz.arrayBuffer())).toEqual(new Uint8Array([31, 139]));
  });

  it("answers 404 with the error envelope for unknown assets, and for / without a build", async () => {
    await withApp(async (f) => {
      const missing = await f.request("/assets/nope.js", { key: null });
      expect(missing.status).toBe(404);
      expect((await missing.json()).status).toBe("error");
      const index = await f.request("/", { key: null });
      expect(index.status).toBe(404);
      expect((await index.json()).message).toContain("npm run build");
    });
  });
});
