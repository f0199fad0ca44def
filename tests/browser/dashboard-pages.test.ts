/**
 * The dashboard's pages in Chromium (Debian's, via playwright-core) against the real server process
 * (Deno, main.tsx) on a fresh SQLite file: assets and CSP, sign-in, the live overview (every figure from
 * the stream), the live tail (filters, pause without loss, skipped messages, a bad frame), devices (every
 * type, paged, the per-type limit shown),
 * keys, scopes, audit, alerts notice, themes, signing out (also when the key is revoked mid-session).
 */
import { describe, expect, it } from "vitest";
import { screenshot, signIn } from "./browser.ts";
import { KEY, setupDashboard } from "./fixture.ts";

const d = setupDashboard();
const text = (id: string) => d.page.locator(`[data-testid=${id}]`).textContent();

describe("dashboard pages in Chromium", () => {
  it("serves hashed assets with cache headers and a strict CSP", async () => {
    const res = await fetch(`${d.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self';");
    const html = await res.text();
    const js = /src="(\/assets\/app-[0-9a-f]{12}\.js)"/.exec(html)?.[1];
    expect(js).toBeDefined();
    expect(html).not.toMatch(/<script>(?!<)/); // no inline script
    const asset = await fetch(`${d.url}${js}`, { headers: { "accept-encoding": "gzip" } });
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect((await fetch(`${d.url}/assets/app-000000000000.js`)).status).toBe(404);
  });

  it("signs in with the key, keeps it for the tab, and shows admin views for an admin key", async () => {
    await signIn(d.page, d.url, KEY);
    expect(await d.page.evaluate(() => sessionStorage.getItem("pulsestream.key"))).toBe(KEY);
    expect(await d.page.locator("[data-nav=keys]").count()).toBe(1);
    expect(await d.page.locator("[data-nav=audit]").count()).toBe(1);
  });

  it("shows ingested events, store size and health on the overview from the live stream alone", async () => {
    const page = d.page;
    const polled: string[] = [];
    page.on("request", (r) => r.url().endsWith("/health") && polled.push(r.url()));
    await page.goto(`${d.url}/#/overview`);
    await page.waitForSelector("[data-testid=uptime]");
    const events = Array.from(
      { length: 7 },
      (_, i) => ({ deviceId: "ov-1", eventType: "overview", value: i }),
    );
    expect((await d.post("/v1/events", events)).status).toBe(202);
    await page.waitForFunction(
      () => document.querySelector("[data-testid=accepted-total]")?.textContent === "7",
      undefined,
      { timeout: 2000 },
    );
    // store figures come with the stats messages: the event count follows the ingest without a poll
    await page.waitForFunction(() =>
      document.querySelector("[data-testid=store]")?.nextSibling?.textContent?.startsWith("7 events")
    );
    expect(await text("health")).toBe("ok");
    await page.waitForFunction(() =>
      Number((document.querySelector("[data-testid=chart-rate]") as HTMLElement)?.dataset.points) > 0
    );
    await page.waitForTimeout(5500);
    // signing in opened the overview (its one /health read, for the version, was then): no polling since
    expect(polled).toEqual([]);
    await screenshot(page, "overview");
  });

  it("tails new events: detail, filters, and pause keeps what arrives meanwhile", async () => {
    const page = d.page;
    await page.goto(`${d.url}/#/tail`);
    await page.waitForSelector("text=Waiting for events");
    await page.waitForTimeout(300); // the subscription is open
    const res = await d.post("/v1/events", {
      id: "tail-1",
      deviceId: "tail-dev",
      eventType: "door",
      value: 1,
      data: { opened: true, by: "test" },
    });
    expect(res.status).toBe(202);
    await page.waitForSelector("[data-event-id=tail-1]", { timeout: 2000 });
    await page.click("[data-event-id=tail-1]");
    const data = await page.locator("[data-testid=event-data]").textContent();
    expect(JSON.parse(data!)).toEqual({ opened: true, by: "test" });
    expect(data).toContain('\n  "opened": true');
    await screenshot(page, "tail");

    // Device filter (server side), text filter (in the page), pause/resume
    await page.fill("input[placeholder=deviceId]", "tail-b");
    await page.click("text=Apply");
    await page.waitForTimeout(500); // resubscribed
    await d.post("/v1/events", [
      { id: "tail-a1", deviceId: "tail-a", eventType: "door", value: 1 },
      { id: "tail-b1", deviceId: "tail-b", eventType: "door", value: 2, data: { word: "alpha" } },
      { id: "tail-b2", deviceId: "tail-b", eventType: "door", value: 3, data: { word: "beta" } },
    ]);
    await page.waitForSelector("[data-event-id=tail-b2]");
    expect(await page.locator("[data-testid=tail-table] tbody tr").count()).toBe(2);
    await page.fill("[data-testid=tail-text]", "beta");
    expect(await page.locator("[data-testid=tail-table] tbody tr").count()).toBe(1);
    await page.fill("[data-testid=tail-text]", "");
    await page.click("[data-testid=pause]");
    await d.post("/v1/events", [
      { id: "tail-b3", deviceId: "tail-b", eventType: "door", value: 4 },
      { id: "tail-b4", deviceId: "tail-b", eventType: "door", value: 5 },
    ]);
    await page.waitForSelector("text=Resume (2 new)");
    expect(await page.locator("[data-event-id=tail-b3]").count()).toBe(0);
    // Resume shows the events that arrived while paused, without waiting for another one
    await page.click("[data-testid=pause]");
    await page.waitForSelector("[data-event-id=tail-b4]");
    const ids = await page.locator("[data-testid=tail-table] tbody tr").evaluateAll((rows) =>
      rows.map((r) => (r as HTMLElement).dataset.eventId)
    );
    expect(ids).toEqual(["tail-b4", "tail-b3", "tail-b2", "tail-b1"]);
  });

  it("shows how many messages the server skipped, and a bad frame loses only itself", async () => {
    const page = await d.newPage();
    await signIn(page, d.url, KEY);
    const lagged = { type: "lagged", missed: 42, skippedFromSeq: 1, resumeAfterSeq: 50, message: "behind" };
    const event = { id: "fr-1", deviceId: "fr", eventType: "door", value: 1, timestamp: Date.now() };
    // The first connection: a lagged message, a frame that is not JSON, a good event; then it ends.
    await page.route("**/v1/stream/sse**", (route) =>
      route.fulfill({
        status: 200,
        contentType: "text/event-stream",
        body: `event: lagged\nid: 50\ndata: ${JSON.stringify(lagged)}\n\n` +
          `event: event\nid: 51\ndata: {not json\n\n` +
          `event: event\nid: 52\ndata: ${JSON.stringify(event)}\n\n`,
      }), { times: 1 });
    await page.goto(`${d.url}/#/tail`);
    await page.waitForSelector("[data-event-id=fr-1]");
    await page.waitForSelector("text=· 42 skipped");
    await page.close();
  });

  it("lists devices and opens one", async () => {
    const page = d.page;
    const base = Date.now() - 30 * 60_000;
    const d1 = Array.from({ length: 10 }, (_, i) => ({
      deviceId: "d1",
      eventType: "temp",
      value: 20 + i,
      timestamp: base + i * 60_000,
    }));
    expect((await d.post("/v1/events", d1)).status).toBe(202);
    await page.goto(`${d.url}/#/devices`);
    await page.waitForSelector("[data-testid=devices-table]");
    await page.waitForFunction(() =>
      document.querySelectorAll("[data-testid=devices-table] tbody tr").length === 5
    ); // ov-1, tail-dev, tail-a, tail-b, d1 (the routed frame's "fr" was never stored)
    await screenshot(page, "devices");
    await page.click("text=d1");
    await page.waitForSelector("text=Recent events");
    await page.waitForFunction(() => document.querySelectorAll("table tbody tr").length === 10);
    await screenshot(page, "device-detail");
  });

  it("lists every event type and device a page at a time, and says where the server's per-type limit cuts", async () => {
    const page = d.page;
    const wide = Array.from({ length: 1001 }, (_, i) => ({
      deviceId: `wide-${String(i).padStart(4, "0")}`,
      eventType: "wide",
      value: i,
    }));
    expect((await d.post("/v1/events", wide.slice(0, 500))).status).toBe(202);
    expect((await d.post("/v1/events", wide.slice(500))).status).toBe(202);
    // 60 event types for one device: more than the 50 the page used to stop at
    const many = Array.from({ length: 60 }, (_, i) => ({
      deviceId: "many",
      eventType: `type-${String(i).padStart(2, "0")}`,
      value: i,
    }));
    expect((await d.post("/v1/events", many)).status).toBe(202);
    await page.goto(`${d.url}/#/devices`);
    await page.waitForSelector("[data-testid=devices-cut]");
    expect(await text("devices-cut")).toContain("wide shows 1000 of 1001");
    await page.fill("input[placeholder='Filter devices']", "many");
    await page.waitForFunction(() =>
      document.querySelectorAll("[data-testid=devices-table] tbody tr").length === 1
    );
    const values = await page.locator("[data-testid=devices-table] tbody tr td:nth-child(4) span")
      .allTextContents();
    expect(values.sort()).toEqual(many.map((e) => `${e.eventType}: ${e.value}`)); // type-00 … type-59 sort
    await page.fill("input[placeholder='Filter devices']", "wide-");
    await page.waitForFunction(() =>
      document.querySelectorAll("[data-testid=devices-table] tbody tr").length === 100
    );
    expect(await text("devices-range")).toMatch(
      /^Showing 1–100 of 1000 matching \(\d+ in all\) · \d+ event types$/,
    );
    await page.click("button:has-text('Next')");
    await page.waitForFunction(() =>
      document.querySelector("[data-testid=devices-range]")?.textContent?.startsWith("Showing 101–200 ")
    );
    expect(await page.locator("[data-testid=devices-table] tbody tr").count()).toBe(100);
    await screenshot(page, "devices-paged");
  });

  it("creates a key (secret shown once) and revokes it", async () => {
    const page = d.page;
    await page.goto(`${d.url}/#/keys`);
    await page.waitForSelector("[data-testid=keys-table]");
    await page.fill("[data-testid=key-name]", "browser-made");
    await page.click("[data-testid=create-key]");
    const secret = (await page.locator("[data-testid=new-secret]").textContent())!;
    expect(secret).toMatch(/^psk_/);
    const who = await fetch(`${d.url}/v1/auth/whoami`, { headers: { "x-api-key": secret } });
    expect(who.status).toBe(200);
    expect((await who.json()).data).toMatchObject({ name: "browser-made", scopes: ["ingest"] });
    expect((await d.post("/v1/events", { deviceId: "k", eventType: "k" }, secret)).status).toBe(202);
    await screenshot(page, "keys");

    const row = page.locator("tr", { hasText: "browser-made" });
    page.once("dialog", (dialog) => void dialog.accept());
    await row.locator("[data-testid=revoke]").click();
    await row.locator("text=revoked").waitFor();
    expect((await fetch(`${d.url}/v1/auth/whoami`, { headers: { "x-api-key": secret } })).status).toBe(401);
    expect((await d.post("/v1/events", { deviceId: "k", eventType: "k" }, secret)).status).toBe(401);
  });

  it("shows no admin views to a read-only key, and refuses a key without read", async () => {
    const make = async (name: string, scopes: string[]) =>
      (await (await d.post("/v1/admin/keys", { name, scopes })).json()).data.key as string;
    const reader = await make("reader", ["read"]);
    const tab = await d.newPage();
    await signIn(tab, d.url, reader);
    expect(await tab.locator("[data-nav=overview]").count()).toBe(1);
    expect(await tab.locator("[data-nav=keys]").count()).toBe(0);
    expect(await tab.locator("[data-nav=audit]").count()).toBe(0);
    await tab.goto(`${d.url}/#/keys`);
    await tab.waitForSelector("text=This view needs an admin key");
    await tab.click("[data-testid=sign-out]");
    const ingestOnly = await make("ingest-only", ["ingest"]);
    await tab.fill("input[name=apiKey]", ingestOnly);
    await tab.click("button[type=submit]");
    await tab.waitForSelector("text=This key has no read scope");
    expect(await tab.evaluate(() => sessionStorage.getItem("pulsestream.key"))).toBeNull();
    await tab.close();
  });

  it("signs out when the key is revoked mid-session (a request or the live stream answers 401)", async () => {
    const create = async (name: string) => {
      const body = (await (await d.post("/v1/admin/keys", { name, scopes: ["read"] })).json()).data;
      return body as { id: string; key: string };
    };
    const revoke = (id: string) =>
      fetch(`${d.url}/v1/admin/keys/${id}`, { method: "DELETE", headers: { "x-api-key": KEY } });
    // A request: the devices page is opened after the revocation
    const a = await create("revoked-mid-session");
    const tab = await d.newPage();
    await signIn(tab, d.url, a.key);
    expect((await revoke(a.id)).status).toBeLessThan(300);
    await tab.goto(`${d.url}/#/devices`);
    await tab.waitForSelector("input[name=apiKey]");
    await tab.waitForSelector("text=Signed out:");
    expect(await tab.evaluate(() => sessionStorage.getItem("pulsestream.key"))).toBeNull();
    // The live stream: the tail reconnects after its stream ended, with the key revoked meanwhile
    const b = await create("revoked-on-stream");
    await signIn(tab, d.url, b.key);
    await tab.route(
      "**/v1/stream/sse**",
      (route) => route.fulfill({ status: 200, contentType: "text/event-stream", body: ": ping\n\n" }),
      { times: 1 },
    );
    expect((await revoke(b.id)).status).toBeLessThan(300);
    await tab.goto(`${d.url}/#/tail`);
    await tab.waitForSelector("input[name=apiKey]");
    expect(await tab.evaluate(() => sessionStorage.getItem("pulsestream.key"))).toBeNull();
    await tab.close();
  });

  it("shows the audit log and the alerts page (or its clear notice without alerting)", async () => {
    const page = d.page;
    await page.goto(`${d.url}/#/audit`);
    await page.waitForSelector("[data-testid=audit-table]");
    expect(await page.locator("[data-testid=audit-table] tbody tr").count()).toBeGreaterThanOrEqual(2);
    await screenshot(page, "audit");
    await page.goto(`${d.url}/#/alerts`);
    if (d.alertsAvailable) await page.waitForSelector("text=Rules");
    else await page.waitForSelector("text=Alerting is not available on this server");
    await screenshot(page, "alerts");
  });

  it("switches between dark and light themes", async () => {
    const page = d.page;
    await page.goto(`${d.url}/#/overview`);
    await page.selectOption("select[aria-label=Theme]", "dark");
    expect(await page.evaluate(() => document.documentElement.classList.contains("dark"))).toBe(true);
    await screenshot(page, "overview-dark");
    await page.selectOption("select[aria-label=Theme]", "light");
    expect(await page.evaluate(() => document.documentElement.classList.contains("dark"))).toBe(false);
    await page.selectOption("select[aria-label=Theme]", "system");
    expect(await page.evaluate(() => localStorage.getItem("pulsestream.theme"))).toBeNull();
  });

  it("signs out, forgetting the key", async () => {
    await d.page.click("[data-testid=sign-out]");
    await d.page.waitForSelector("input[name=apiKey]");
    expect(await d.page.evaluate(() => sessionStorage.getItem("pulsestream.key"))).toBeNull();
    await screenshot(d.page, "sign-in");
  });

  it("logged no console errors on any page", () => {
    // The 401s of the revoked keys are expected console errors (the browser logs failed requests).
    expect(d.consoleErrors().filter((p) => !p.text.includes("401"))).toEqual([]);
  });
});
