/**
 * The metric explorer in Chromium against the real server: exact point counts of a known dataset,
 * drag-to-zoom, legend clicks, zoom out, quick ranges, an absolute from–to range, shareable URLs,
 * live mode (exact point count, no refetch), and a refetch when live updates were lost.
 */
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { screenshot, signIn } from "./browser.ts";
import { expectNoConsoleErrors, hashParams, KEY, setupDashboard, waitForData } from "./fixture.ts";

const d = setupDashboard();
/** Base of the dataset: a whole minute 20 minutes ago. */
const BASE = Math.floor(Date.now() / 60_000) * 60_000 - 20 * 60_000;
const MIN = 60_000;
const points = (page: Page, n: number) => waitForData(page, "explorer-chart", "points", String(n));
/** d1: minutes 0..9 (one event each); d2: minutes 0, 2, 4, 6, 8 (two events each). */
const d1Minutes = Array.from({ length: 10 }, (_, i) => BASE + i * MIN);
const d2Minutes = d1Minutes.filter((_, i) => i % 2 === 0);
/** Points drawn for count and max of d1 and d2 with step 1m over [from, to). */
const expected = (from: number, to: number) => {
  const inRange = (t: number) => t + MIN > Math.floor(from / MIN) * MIN && t < to;
  return (d1Minutes.filter(inRange).length + d2Minutes.filter(inRange).length) * 2;
};
const VIEW = `type=temp&dev=d1,d2&agg=count,max&step=1m`;

describe("explorer in Chromium", () => {
  it("draws exactly the known dataset's points; drag-to-zoom, legend and zoom out change the view", async () => {
    const page = d.page;
    await signIn(page, d.url, KEY);
    const events = [
      ...d1Minutes.map((t, i) => ({ deviceId: "d1", eventType: "temp", value: 20 + i, timestamp: t + 1000 })),
      ...Array.from({ length: 10 }, (_, i) => ({
        deviceId: "d2",
        eventType: "temp",
        value: 30 + i,
        timestamp: BASE + Math.floor(i / 2) * 2 * MIN + 2000 + (i % 2) * 1000,
      })),
    ];
    expect((await d.post("/v1/events", events)).status).toBe(202);
    const url = `${d.url}/#/explorer?${VIEW}&from=${BASE}&to=${BASE + 15 * MIN}`;
    await page.goto(url);
    await waitForData(page, "explorer-chart", "series", "4"); // 2 devices × 2 aggregates
    const chart = page.locator("[data-testid=explorer-chart]");
    expect(await chart.getAttribute("data-points")).toBe(String((10 + 5) * 2));
    await screenshot(page, "explorer");

    // Drag-to-zoom over the chart's middle: the URL then holds an absolute range inside the old one
    const box = (await chart.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction((before) => location.hash !== before, new URL(url).hash);
    const from = Number(hashParams(page).get("from"));
    const to = Number(hashParams(page).get("to"));
    expect(from).toBeGreaterThan(BASE);
    expect(to).toBeLessThan(BASE + 15 * MIN);
    await points(page, expected(from, to));
    const zoomed = hashParams(page).toString();
    // a zoom is a history entry: Back returns to the whole range
    await page.goBack();
    await points(page, 30);
    await page.goForward();
    await points(page, expected(from, to));

    // A legend click hides that series (its points stay counted in data-points), a second shows it
    const legend = JSON.parse((await chart.getAttribute("data-legend"))!) as [number, number][];
    expect(legend.length).toBe(4);
    const at = (await chart.boundingBox())!;
    await page.mouse.click(at.x + legend[0][0], at.y + legend[0][1]);
    await waitForData(page, "explorer-chart", "hidden", "1");
    // a theme switch recolours the chart and keeps the hidden series hidden
    await page.selectOption("select[aria-label=Theme]", "dark");
    await waitForData(page, "explorer-chart", "theme", "dark");
    expect(await chart.getAttribute("data-hidden")).toBe("1");
    await page.selectOption("select[aria-label=Theme]", "light");
    await waitForData(page, "explorer-chart", "theme", "light");
    await page.mouse.click(at.x + legend[0][0], at.y + legend[0][1]);
    await waitForData(page, "explorer-chart", "hidden", "0");

    // Zoom out doubles the span around the middle
    await page.click("[data-testid=zoom-out]");
    await page.waitForFunction((f) => !location.hash.includes(`from=${f}&`), from);
    const outFrom = Number(hashParams(page).get("from"));
    const outTo = Number(hashParams(page).get("to"));
    expect(outTo - outFrom).toBe(2 * (to - from));
    // The middle stays, to the millisecond: with an odd from + to the doubled span cannot centre exactly
    expect(Math.abs(outFrom + outTo - (from + to))).toBeLessThanOrEqual(1);
    await points(page, expected(outFrom, outTo));

    // The zoomed URL in a new tab (signed in afresh) shows the same view
    const shared = await d.newPage();
    await signIn(shared, d.url, KEY);
    await shared.goto(`${d.url}/#/explorer?${zoomed}`);
    await points(shared, expected(from, to));
    expect(await shared.locator("[data-testid=explorer-chart]").getAttribute("data-series")).toBe("4");
    await shared.close();
  });

  it("quick ranges and an absolute from–to range set the URL and the points", async () => {
    const page = d.page;
    await page.goto(`${d.url}/#/explorer?${VIEW}&from=${BASE}&to=${BASE + 15 * MIN}`);
    await points(page, 30);
    await page.click("button:text-is('1h')");
    await page.waitForFunction(() => location.hash.includes("from=now-1h&to=now"));
    await points(page, 30); // the whole dataset is 20..10 minutes old
    await page.click("button:text-is('5m')");
    await page.waitForFunction(() => location.hash.includes("from=now-5m&to=now"));
    await points(page, 0);

    // From = BASE, To = BASE + 5 min, typed into the datetime inputs (the browser's local time)
    const local = (t: number) =>
      page.evaluate((t) => {
        const x = new Date(t - new Date(t).getTimezoneOffset() * 60_000);
        return x.toISOString().slice(0, 16);
      }, t);
    await page.fill("input[aria-label=From]", await local(BASE));
    await page.waitForFunction((b) => location.hash.includes(`from=${b}&`), BASE);
    await page.fill("input[aria-label=To]", await local(BASE + 5 * MIN));
    await page.waitForFunction((t) => location.hash.includes(`to=${t}`), BASE + 5 * MIN);
    await points(page, expected(BASE, BASE + 5 * MIN));
    expect(expected(BASE, BASE + 5 * MIN)).toBe((5 + 3) * 2);
  });

  it("appends exactly one point per new 1 s window in live mode, without refetching", async () => {
    const page = d.page;
    expect((await d.post("/v1/events", { deviceId: "lv", eventType: "livetype", value: 1 })).status).toBe(
      202,
    );
    let lastPost = Date.now();
    const queries: string[] = [];
    const onRequest = (r: { url(): string }) => r.url().includes("/v1/metrics?") && queries.push(r.url());
    page.on("request", onRequest);
    await page.goto(`${d.url}/#/explorer?type=livetype&agg=count&step=1s&from=now-2m&to=now&live=1`);
    await points(page, 1);
    await page.waitForTimeout(500); // the live subscription is open
    const fetched = queries.length;
    for (let i = 0; i < 3; i++) {
      // server-side timestamps at least 1.1 s apart: each event opens a new 1 s window
      await page.waitForTimeout(Math.max(0, lastPost + 1100 - Date.now()));
      lastPost = Date.now();
      expect((await d.post("/v1/events", { deviceId: "lv", eventType: "livetype", value: i })).status).toBe(
        202,
      );
      await points(page, 2 + i);
    }
    await page.waitForTimeout(1500); // nothing else arrives
    expect(await page.locator("[data-testid=explorer-chart]").getAttribute("data-points")).toBe("4");
    expect(queries.length).toBe(fetched);
    page.off("request", onRequest);
  });

  it("fetches the range again when the server says live updates were skipped", async () => {
    const page = await d.newPage();
    await signIn(page, d.url, KEY);
    const queries: string[] = [];
    page.on("request", (r) => r.url().includes("/v1/metrics?") && queries.push(r.url()));
    // The first live connection answers one `lagged` message and ends (then it reconnects for real).
    const lagged = { type: "lagged", missed: 42, skippedFromSeq: 1, resumeAfterSeq: 50, message: "behind" };
    await page.route("**/v1/stream/sse**", (route) =>
      route.fulfill({
        status: 200,
        contentType: "text/event-stream",
        body: `event: lagged\nid: 50\ndata: ${JSON.stringify(lagged)}\n\n`,
      }), { times: 1 });
    await page.goto(`${d.url}/#/explorer?type=livetype&agg=count&step=1s&from=now-2m&to=now&live=1`);
    await points(page, 4);
    await expect.poll(() => queries.length, { timeout: 5000 }).toBe(2);
    await page.waitForTimeout(1500);
    expect(queries.length).toBe(2); // one refetch for the one gap
    await page.close();
  });

  it("logged no console errors", () => expectNoConsoleErrors(d));
});
