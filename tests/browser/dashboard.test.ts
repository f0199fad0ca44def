/**
 * The dashboard in a real browser (Debian's Chromium via playwright-core) against the real server
 * process (Deno, main.tsx) on a fresh SQLite file: sign-in, live overview, explorer point counts
 * and shareable URLs, the live tail, key creation and revocation, and no console errors.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, startServer } from "../server-process.ts";
import {
  type Browser,
  buildDashboard,
  type ConsoleProblem,
  launchBrowser,
  screenshot,
  signIn,
  watchConsole,
} from "./browser.ts";

const KEY = "dashboard-test-admin-key-0123456789";
let server: ServerProcess;
let browser: Browser;
let dir: string;
let page: Page;
const problems: ConsoleProblem[] = [];
let alertsAvailable = false;

async function post(path: string, body: unknown, key = KEY): Promise<Response> {
  return await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function newPage(): Promise<Page> {
  const p = await browser.context.newPage();
  const own = watchConsole(p);
  p.on("close", () => problems.push(...own));
  pages.push({ page: p, own });
  return p;
}
const pages: { page: Page; own: ConsoleProblem[] }[] = [];

/** Base of the explorer dataset: a whole minute 20 minutes ago. */
const BASE = Math.floor(Date.now() / 60_000) * 60_000 - 20 * 60_000;

beforeAll(async () => {
  buildDashboard();
  dir = mkdtempSync(join(tmpdir(), "pulsestream-dashboard-"));
  server = await startServer("deno", {
    DATABASE_URL: `file:${join(dir, "test.db")}`,
    BOOTSTRAP_API_KEY: KEY,
    LOG_LEVEL: "warn",
  });
  alertsAvailable =
    (await fetch(`${server.url}/v1/alerts/rules`, { headers: { "x-api-key": KEY } })).status !== 404;
  browser = await launchBrowser();
  page = await newPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe("dashboard in Chromium", () => {
  it("serves hashed assets with cache headers and a strict CSP", async () => {
    const res = await fetch(`${server.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self';");
    const html = await res.text();
    const js = /src="(\/assets\/app-[0-9a-f]{12}\.js)"/.exec(html)?.[1];
    expect(js).toBeDefined();
    expect(html).not.toMatch(/<script>(?!<)/); // no inline script
    const asset = await fetch(`${server.url}${js}`, { headers: { "accept-encoding": "gzip" } });
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect((await fetch(`${server.url}/assets/app-000000000000.js`)).status).toBe(404);
  });

  it("signs in with the key, keeps it for the tab, and shows admin views for an admin key", async () => {
    await signIn(page, server.url, KEY);
    expect(await page.evaluate(() => sessionStorage.getItem("pulsestream.key"))).toBe(KEY);
    expect(await page.locator("[data-nav=keys]").count()).toBe(1);
    expect(await page.locator("[data-nav=audit]").count()).toBe(1);
  });

  it("shows events ingested by the test on the overview within 2 s", async () => {
    await page.goto(`${server.url}/#/overview`);
    await page.waitForSelector("[data-testid=uptime]");
    const events = Array.from(
      { length: 7 },
      (_, i) => ({ deviceId: "ov-1", eventType: "overview", value: i }),
    );
    const res = await post("/v1/events", events);
    expect(res.status).toBe(202);
    const started = Date.now();
    await page.waitForFunction(
      () => document.querySelector("[data-testid=accepted-total]")?.textContent === "7",
      undefined,
      { timeout: 2000 },
    );
    expect(Date.now() - started).toBeLessThanOrEqual(2000);
    // the rate chart has drawn live samples
    await page.waitForFunction(() =>
      Number((document.querySelector("[data-testid=chart-rate]") as HTMLElement)?.dataset.points) > 0
    );
    await screenshot(page, "overview");
  });

  it("draws exactly the known dataset's points in the explorer, and a URL with the range reproduces it", async () => {
    // d1: one event in each of minutes 0..9; d2: minutes 0, 2, 4, 6, 8 (two events each)
    const events = [
      ...Array.from(
        { length: 10 },
        (_, i) => ({ deviceId: "d1", eventType: "temp", value: 20 + i, timestamp: BASE + i * 60_000 + 1000 }),
      ),
      ...Array.from({ length: 10 }, (_, i) => ({
        deviceId: "d2",
        eventType: "temp",
        value: 30 + i,
        timestamp: BASE + Math.floor(i / 2) * 120_000 + 2000 + (i % 2) * 1000,
      })),
    ];
    expect((await post("/v1/events", events)).status).toBe(202);
    const url = `${server.url}/#/explorer?type=temp&dev=d1,d2&agg=count,max&step=1m&from=${BASE}&to=${
      BASE + 15 * 60_000
    }`;
    await page.goto(url);
    const chart = page.locator("[data-testid=explorer-chart]");
    // 2 devices × 2 aggregates = 4 series; d1 10 minutes + d2 5 minutes, per aggregate
    await page.waitForFunction(() =>
      (document.querySelector("[data-testid=explorer-chart]") as HTMLElement | null)?.dataset.series === "4"
    );
    expect(await chart.getAttribute("data-points")).toBe(String((10 + 5) * 2));
    await screenshot(page, "explorer");

    // Drag-to-zoom over the chart's middle: the URL then holds an absolute range
    const box = (await chart.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction((before) => location.hash !== before, new URL(url).hash);
    const zoomed = new URLSearchParams(new URL(page.url()).hash.split("?")[1]);
    const from = Number(zoomed.get("from"));
    const to = Number(zoomed.get("to"));
    expect(from).toBeGreaterThan(BASE);
    expect(to).toBeLessThan(BASE + 15 * 60_000);
    const minutes = (n: number) => Array.from({ length: n }, (_, i) => BASE + i * 60_000);
    const inRange = (t: number) => t + 60_000 > Math.floor(from / 60_000) * 60_000 && t < to;
    const expected = minutes(10).filter(inRange).length +
      minutes(10).filter((t, i) => i % 2 === 0 && inRange(t)).length;
    await page.waitForFunction(
      (n) =>
        (document.querySelector("[data-testid=explorer-chart]") as HTMLElement | null)?.dataset.points ===
          String(n),
      expected * 2,
    );

    // A legend click hides that series (and a second one shows it again)
    const legend = JSON.parse((await chart.getAttribute("data-legend"))!) as [number, number][];
    expect(legend.length).toBe(4);
    const at = (await chart.boundingBox())!;
    await page.mouse.click(at.x + legend[0][0], at.y + legend[0][1]);
    await page.waitForFunction(() =>
      (document.querySelector("[data-testid=explorer-chart]") as HTMLElement).dataset.hidden === "1"
    );
    await page.mouse.click(at.x + legend[0][0], at.y + legend[0][1]);
    await page.waitForFunction(() =>
      (document.querySelector("[data-testid=explorer-chart]") as HTMLElement).dataset.hidden === "0"
    );

    // Zoom out doubles the span around the middle
    await page.click("[data-testid=zoom-out]");
    await page.waitForFunction((f) => !location.hash.includes(`from=${f}&`), from);
    const out = new URLSearchParams(new URL(page.url()).hash.split("?")[1]);
    expect(Number(out.get("to")) - Number(out.get("from"))).toBeCloseTo(2 * (to - from), -1);
    await page.goto(`${server.url}/#/explorer?${zoomed}`);
    await page.waitForFunction(
      (n) =>
        (document.querySelector("[data-testid=explorer-chart]") as HTMLElement | null)?.dataset.points ===
          String(n),
      expected * 2,
    );

    // Device picker: search and choose one device
    await page.click("[data-testid=devices]");
    await page.fill("input[placeholder^=Search]", "d2");
    expect(await page.locator("label:has(input[type=checkbox]) >> text=d1").count()).toBe(0);
    await page.click("text=Done");

    // The same URL in a new tab (signed in afresh) shows the same view
    const shared = await newPage();
    await signIn(shared, server.url, KEY);
    await shared.goto(page.url());
    await shared.waitForFunction(
      (n) =>
        (document.querySelector("[data-testid=explorer-chart]") as HTMLElement | null)?.dataset.points ===
          String(n),
      expected * 2,
    );
    expect(await shared.locator("[data-testid=explorer-chart]").getAttribute("data-series")).toBe("4");
    await shared.close();
  });

  it("appends points in live mode from the aggregates channel, without refetching", async () => {
    expect((await post("/v1/events", { deviceId: "lv", eventType: "livetype", value: 1 })).status).toBe(202);
    const queries: string[] = [];
    page.on("request", (r) => r.url().includes("/v1/metrics?") && queries.push(r.url()));
    await page.goto(`${server.url}/#/explorer?type=livetype&agg=count&step=1s&from=now-2m&to=now&live=1`);
    await page.waitForFunction(() =>
      (document.querySelector("[data-testid=explorer-chart]") as HTMLElement | null)?.dataset.points === "1"
    );
    await new Promise((r) => setTimeout(r, 500)); // the live subscription is open
    const fetched = queries.length;
    for (let i = 0; i < 3; i++) {
      expect((await post("/v1/events", { deviceId: "lv", eventType: "livetype", value: i })).status).toBe(
        202,
      );
      await new Promise((r) => setTimeout(r, 1100)); // a new 1 s window each
    }
    await page.waitForFunction(() =>
      Number(
        (document.querySelector("[data-testid=explorer-chart]") as HTMLElement | null)?.dataset.points,
      ) >= 3
    );
    expect(queries.length).toBe(fetched);
  });

  it("shows a new event in the live tail and its detail", async () => {
    await page.goto(`${server.url}/#/tail`);
    await page.waitForSelector("text=Waiting for events");
    await new Promise((r) => setTimeout(r, 300)); // the subscription is open
    const res = await post("/v1/events", {
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
    await new Promise((r) => setTimeout(r, 500)); // resubscribed
    await post("/v1/events", [
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
    await post("/v1/events", { id: "tail-b3", deviceId: "tail-b", eventType: "door", value: 4 });
    await page.waitForSelector("text=Resume (1 new)");
    expect(await page.locator("[data-event-id=tail-b3]").count()).toBe(0);
    await page.click("[data-testid=pause]");
    await post("/v1/events", { id: "tail-b4", deviceId: "tail-b", eventType: "door", value: 5 });
    await page.waitForSelector("[data-event-id=tail-b4]");
  });

  it("lists devices and opens one", async () => {
    await page.goto(`${server.url}/#/devices`);
    await page.waitForSelector("[data-testid=devices-table]");
    const rows = await page.locator("[data-testid=devices-table] tbody tr").count();
    expect(rows).toBe(7); // ov-1, d1, d2, lv, tail-dev, tail-a, tail-b
    await screenshot(page, "devices");
    await page.click("text=d1");
    await page.waitForSelector("text=Recent events");
    await page.waitForFunction(() => document.querySelectorAll("table tbody tr").length === 10);
    await screenshot(page, "device-detail");
  });

  it("creates a key (secret shown once) and revokes it", async () => {
    await page.goto(`${server.url}/#/keys`);
    await page.waitForSelector("[data-testid=keys-table]");
    await page.fill("[data-testid=key-name]", "browser-made");
    await page.click("[data-testid=create-key]");
    const secret = (await page.locator("[data-testid=new-secret]").textContent())!;
    expect(secret).toMatch(/^psk_/);
    const who = await fetch(`${server.url}/v1/auth/whoami`, { headers: { "x-api-key": secret } });
    expect(who.status).toBe(200);
    expect((await who.json()).data).toMatchObject({ name: "browser-made", scopes: ["ingest"] });
    expect((await post("/v1/events", { deviceId: "k", eventType: "k" }, secret)).status).toBe(202);
    await screenshot(page, "keys");

    const row = page.locator("tr", { hasText: "browser-made" });
    page.once("dialog", (d) => void d.accept());
    await row.locator("[data-testid=revoke]").click();
    await row.locator("text=revoked").waitFor();
    expect((await fetch(`${server.url}/v1/auth/whoami`, { headers: { "x-api-key": secret } })).status).toBe(
      401,
    );
    expect((await post("/v1/events", { deviceId: "k", eventType: "k" }, secret)).status).toBe(401);
  });

  it("shows no admin views to a read-only key, and refuses a key without read", async () => {
    const make = async (name: string, scopes: string[]) =>
      (await (await post("/v1/admin/keys", { name, scopes })).json()).data.key as string;
    const reader = await make("reader", ["read"]);
    const tab = await newPage();
    await signIn(tab, server.url, reader);
    expect(await tab.locator("[data-nav=overview]").count()).toBe(1);
    expect(await tab.locator("[data-nav=keys]").count()).toBe(0);
    expect(await tab.locator("[data-nav=audit]").count()).toBe(0);
    await tab.goto(`${server.url}/#/keys`);
    await tab.waitForSelector("text=This view needs an admin key");
    await tab.click("[data-testid=sign-out]");
    const ingestOnly = await make("ingest-only", ["ingest"]);
    await tab.fill("input[name=apiKey]", ingestOnly);
    await tab.click("button[type=submit]");
    await tab.waitForSelector("text=This key has no read scope");
    expect(await tab.evaluate(() => sessionStorage.getItem("pulsestream.key"))).toBeNull();
    await tab.close();
  });

  it("shows the audit log and the alerts page (or its clear notice without alerting)", async () => {
    await page.goto(`${server.url}/#/audit`);
    await page.waitForSelector("[data-testid=audit-table]");
    expect(await page.locator("[data-testid=audit-table] tbody tr").count()).toBeGreaterThanOrEqual(2);
    await screenshot(page, "audit");
    await page.goto(`${server.url}/#/alerts`);
    if (alertsAvailable) await page.waitForSelector("text=Rules");
    else await page.waitForSelector("text=Alerting is not available on this server");
    await screenshot(page, "alerts");
  });

  it("renders the alerting API's shapes (docs: alerts contract) and silences a rule", async () => {
    // The alerting backend lives on another branch: answer its routes with the contract's shapes here,
    // in the browser, so the page is checked against the contract itself.
    const at = new Date().toISOString();
    const rule = {
      id: "rul_1",
      name: "HighTemp",
      kind: "threshold",
      eventType: "temp",
      aggregate: "avg",
      window: "1m",
      groupBy: "device",
      op: ">",
      threshold: 30,
      for: "2m",
      keepFiringFor: "0s",
      severity: "critical",
      labels: {},
      annotations: {},
      receiver: null,
      escalation: null,
      enabled: true,
      createdAt: at,
      updatedAt: at,
    };
    const alert = {
      fingerprint: "0123456789abcdef",
      ruleId: "rul_1",
      ruleName: "HighTemp",
      severity: "critical",
      state: "firing",
      labels: { alertname: "HighTemp", deviceId: "s-1" },
      annotations: { summary: "s-1 is 31.2" },
      value: 31.2,
      activeAt: at,
      firedAt: at,
      silenced: false,
    };
    const posted: unknown[] = [];
    const tab = await newPage();
    await signIn(tab, server.url, KEY);
    await tab.route("**/v1/alerts**", (route) => {
      const url = new URL(route.request().url());
      const json = (body: unknown, status = 200) =>
        route.fulfill({ status, contentType: "application/json", body: JSON.stringify(body) });
      if (route.request().method() === "POST" && url.pathname === "/v1/alerts/silences") {
        posted.push(route.request().postDataJSON());
        return json({ id: "sil_1", ...route.request().postDataJSON(), createdBy: "key_x" }, 201);
      }
      if (url.pathname === "/v1/alerts/rules") return json({ rules: [rule] });
      if (url.pathname === "/v1/alerts") return json({ alerts: [alert] });
      if (url.pathname === "/v1/alerts/history") {
        return json({
          history: [{
            seq: 1,
            at,
            ruleId: "rul_1",
            fingerprint: alert.fingerprint,
            labels: alert.labels,
            from: "pending",
            to: "firing",
            value: 31.2,
          }],
          next: null,
        });
      }
      if (url.pathname === "/v1/alerts/silences") return json({ silences: [] });
      return json({ status: "error", message: "unexpected" }, 500);
    });
    await tab.goto(`${server.url}/#/alerts`);
    await tab.waitForSelector("text=s-1 is 31.2");
    expect(await tab.locator("text=avg(temp) over 1m > 30 for 2m").count()).toBe(1);
    expect(await tab.locator("text=pending →").count()).toBe(1);
    await screenshot(tab, "alerts-contract");
    await tab.click("text=Silence 1 h");
    await expect.poll(() => posted.length).toBe(1);
    expect(posted[0]).toMatchObject({
      matchers: [{ name: "alertname", value: "HighTemp", isRegex: false, isEqual: true }],
    });
    await tab.close();
  });

  it("switches between dark and light themes", async () => {
    await page.goto(`${server.url}/#/overview`);
    await page.selectOption("select[aria-label=Theme]", "dark");
    expect(await page.evaluate(() => document.documentElement.classList.contains("dark"))).toBe(true);
    await screenshot(page, "overview-dark");
    await page.selectOption("select[aria-label=Theme]", "light");
    expect(await page.evaluate(() => document.documentElement.classList.contains("dark"))).toBe(false);
    await page.selectOption("select[aria-label=Theme]", "system");
    expect(await page.evaluate(() => localStorage.getItem("pulsestream.theme"))).toBeNull();
  });

  it("fits a phone-width screen without horizontal scrolling", async () => {
    const phone = await newPage();
    await phone.setViewportSize({ width: 375, height: 800 });
    await signIn(phone, server.url, KEY);
    for (const p of ["overview", "explorer?type=temp", "devices", "tail", "keys"]) {
      await phone.goto(`${server.url}/#/${p}`);
      await phone.waitForTimeout(300);
      const width = await phone.evaluate(() => document.documentElement.scrollWidth);
      expect(width, p).toBeLessThanOrEqual(375);
      await screenshot(phone, `phone-${p.split("?")[0]}`);
    }
    await phone.close();
  });

  it("signs out, forgetting the key", async () => {
    await page.click("[data-testid=sign-out]");
    await page.waitForSelector("input[name=apiKey]");
    expect(await page.evaluate(() => sessionStorage.getItem("pulsestream.key"))).toBeNull();
    await screenshot(page, "sign-in");
  });

  it("logged no console errors on any page", () => {
    const all = [...problems, ...pages.filter((p) => !p.page.isClosed()).flatMap((p) => p.own)];
    // Without alerting, the alerts page's probe of /v1/alerts/rules is answered 404 by design.
    const unexpected = all.filter((p) => alertsAvailable || !p.url.includes("/v1/alerts/rules"));
    expect(unexpected).toEqual([]);
  });
});
