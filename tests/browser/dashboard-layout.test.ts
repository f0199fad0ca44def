/**
 * Layout and the alerts contract in Chromium against the real server: no layout shift while data streams
 * (PerformanceObserver 'layout-shift'), every page at phone width without horizontal scrolling, and the
 * alerts page against the alerting API's shapes (docs: alerts contract, plus the fields the alerting
 * backend added), answered in the browser so the page is checked against the contract itself.
 */
import type { Page, Route } from "playwright-core";
import { describe, expect, it } from "vitest";
import { screenshot, signIn } from "./browser.ts";
import { expectNoConsoleErrors, KEY, setupDashboard } from "./fixture.ts";

const d = setupDashboard();
/** Largest cumulative layout-shift score allowed over a 4 s stream (Google's "good" page is 0.1). */
const CLS_BOUND = 0.01;

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
/** A system rule as the alerting backend sends it: `aggregate` null. */
const systemRule = {
  ...rule,
  id: "rul_2",
  name: "Overload",
  kind: "system",
  metric: "overload",
  aggregate: null,
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
  resolvedAt: null,
  silenced: false,
};
const transition = (seq: number) => ({
  seq,
  at,
  ruleId: "rul_1",
  fingerprint: alert.fingerprint,
  labels: alert.labels,
  from: seq === 1 ? "inactive" : "pending",
  to: seq === 1 ? "pending" : "firing",
  value: 31.2,
});
const expired = {
  id: "sil_0",
  matchers: [{ name: "deviceId", value: "s-9", isRegex: false, isEqual: true }],
  startsAt: at,
  endsAt: at,
  createdBy: "key_x",
  comment: "",
  status: "expired",
};

/** Answers /v1/alerts* with the contract's shapes; records POSTs and GETs. */
async function fakeAlerting(page: Page, log: { posted: unknown[]; gets: string[] }): Promise<void> {
  await page.route("**/v1/alerts**", (route: Route) => {
    const url = new URL(route.request().url());
    const json = (body: unknown, status = 200) =>
      route.fulfill({ status, contentType: "application/json", body: JSON.stringify(body) });
    if (route.request().method() === "POST" && url.pathname === "/v1/alerts/silences") {
      log.posted.push(route.request().postDataJSON());
      return json(
        { id: "sil_1", ...route.request().postDataJSON(), createdBy: "key_x", status: "active" },
        201,
      );
    }
    log.gets.push(url.pathname + url.search);
    if (url.pathname === "/v1/alerts/rules") return json({ rules: [rule, systemRule] });
    if (url.pathname === "/v1/alerts") return json({ alerts: [alert] });
    if (url.pathname === "/v1/alerts/history") {
      return url.searchParams.get("before") === "cur-1"
        ? json({ history: [transition(1)], next: null })
        : json({ history: [transition(2)], next: "cur-1" });
    }
    if (url.pathname === "/v1/alerts/silences") return json({ silences: [expired] });
    return json({ status: "error", message: "unexpected" }, 500);
  });
}

/** Starts summing layout-shift entries (not caused by input) into `window.__cls`. */
async function observeShifts(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __cls: number };
    w.__cls = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries() as unknown as { value: number; hadRecentInput: boolean }[]) {
        if (!e.hadRecentInput) w.__cls += e.value;
      }
    }).observe({ type: "layout-shift" });
  });
}
const shifts = (page: Page) => page.evaluate(() => (window as unknown as { __cls: number }).__cls);

/** Posts a few events every 200 ms for `ms`. */
async function stream(ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end; i++) {
    const events = Array.from(
      { length: 5 },
      (_, j) => ({ deviceId: `ls-${j}`, eventType: "ls", value: i + j }),
    );
    expect((await d.post("/v1/events", events)).status).toBe(202);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("layout and alerts in Chromium", () => {
  it(`moves nothing while data streams (cumulative layout shift < ${CLS_BOUND})`, async () => {
    const page = d.page;
    await signIn(page, d.url, KEY);
    expect((await d.post("/v1/events", { deviceId: "ls-0", eventType: "ls", value: 0 })).status).toBe(202);
    const views = [
      ["overview", "chart-rate"],
      ["explorer?type=ls&agg=count&step=1s&from=now-1m&to=now&live=1", "explorer-chart"],
    ];
    for (const [view, chart] of views) {
      await page.goto(`${d.url}/#/${view}`);
      if (view === "overview") await page.waitForSelector("[data-testid=uptime]:not(:text-is('–'))");
      else {
        await page.waitForFunction(() =>
          Number((document.querySelector("[data-testid=explorer-chart]") as HTMLElement)?.dataset.points) > 0
        );
      }
      await page.waitForTimeout(1500); // first figures in, fonts and charts settled
      await observeShifts(page);
      const before = await page.locator(`[data-testid=${chart}]`).getAttribute("data-updates");
      await stream(4000);
      const after = await page.locator(`[data-testid=${chart}]`).getAttribute("data-updates");
      expect(Number(after), view).toBeGreaterThan(Number(before)); // it did redraw meanwhile
      expect(await shifts(page), view).toBeLessThan(CLS_BOUND);
    }
  });

  it("fits a phone-width screen without horizontal scrolling, on every page", async () => {
    const phone = await d.newPage();
    await fakeAlerting(phone, { posted: [], gets: [] });
    await phone.setViewportSize({ width: 375, height: 800 });
    await signIn(phone, d.url, KEY);
    const pages = [
      "overview",
      "explorer?type=ls",
      "devices",
      "devices/ls-1",
      "tail",
      "alerts",
      "keys",
      "audit",
    ];
    for (const p of pages) {
      await phone.goto(`${d.url}/#/${p}`);
      await phone.waitForTimeout(400);
      const width = await phone.evaluate(() => document.documentElement.scrollWidth);
      expect(width, p).toBeLessThanOrEqual(375);
      await screenshot(phone, `phone-${p.replace(/[/?].*/, "")}${p.includes("/") ? "-detail" : ""}`);
    }
    await phone.close();
  });

  it("renders the alerting API's shapes, pages history, silences a rule, reloads at most once a second", async () => {
    const log = { posted: [] as unknown[], gets: [] as string[] };
    const tab = await d.newPage();
    await signIn(tab, d.url, KEY);
    await fakeAlerting(tab, log);
    // The first live connection carries a burst of 30 alert messages, then ends.
    const frame = (i: number) =>
      `event: alert\nid: ${i}\ndata: ${JSON.stringify({ type: "alert", alert, from: "pending" })}\n\n`;
    await tab.route("**/v1/stream/sse**", (route) =>
      route.fulfill({
        status: 200,
        contentType: "text/event-stream",
        body: Array.from({ length: 30 }, (_, i) => frame(i + 1)).join(""),
      }), { times: 1 });
    await tab.goto(`${d.url}/#/alerts`);
    await tab.waitForSelector("text=s-1 is 31.2");
    expect(await tab.locator("text=avg(temp) over 1m > 30 for 2m").count()).toBe(1);
    expect(await tab.locator("text=system overload > 30 for 2m").count()).toBe(1);
    expect(await tab.locator("text=pending →").count()).toBe(1);
    expect(await tab.locator("text=expired ·").count()).toBe(1);
    expect(await tab.locator("li:has-text('deviceId=s-9') >> button:text-is('Expire')").count()).toBe(0);
    await tab.waitForTimeout(2500);
    // one load on opening + the burst's reloads: one at once, at most one more a second later
    const loads = log.gets.filter((g) => g === "/v1/alerts/rules").length;
    expect(loads).toBeGreaterThanOrEqual(2);
    expect(loads).toBeLessThanOrEqual(3);
    await tab.click("[data-testid=history-older]");
    await tab.waitForSelector("text=inactive →");
    expect(log.gets).toContain("/v1/alerts/history?limit=50&before=cur-1");
    expect(await tab.locator("[data-testid=history-older]").count()).toBe(0);
    await screenshot(tab, "alerts-contract");
    await tab.click("text=Silence 1 h >> nth=0");
    await expect.poll(() => log.posted.length).toBe(1);
    expect(log.posted[0]).toMatchObject({
      matchers: [{ name: "alertname", value: "HighTemp", isRegex: false, isEqual: true }],
    });
    await tab.close();
  });

  it("logged no console errors", () => expectNoConsoleErrors(d));
});
