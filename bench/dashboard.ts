/**
 * Dashboard benchmark (Node: `node --import tsx bench/dashboard.ts`; Debian's Chromium via playwright-core):
 *  1. page weight: the built JS and CSS, raw and gzip (what the server sends to a gzip client);
 *  2. time from opening `/` (signed in) to the first live chart update: the overview's latency chart
 *     drawing its first point from the live `stats` channel, in ms since navigation start;
 *  3. browser main-thread time while 10,000 events/s stream to the live tail: Chromium's
 *     Performance.getMetrics (CDP) TaskDuration and ScriptDuration over a fixed interval.
 * Runs against the real server process (Deno, main.tsx) on a fresh SQLite file. Bounded: about 40 s.
 *
 *   RUNS=3 SECONDS=10 RATE=10000 node --import tsx bench/dashboard.ts
 */
import { readdirSync, statSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildDashboard, launchBrowser } from "../tests/browser/browser.ts";
import { ROOT, startServer } from "../tests/server-process.ts";

const RUNS = Number(process.env.RUNS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 10);
const RATE = Number(process.env.RATE ?? 10_000);
const KEY = "bench-dashboard-key-0123456789abcdef";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

buildDashboard();
const assets = join(ROOT, "dist/dashboard/assets");
const weight = { js: 0, jsGzip: 0, css: 0, cssGzip: 0 };
for (const f of readdirSync(assets)) {
  const size = statSync(join(assets, f)).size;
  if (f.endsWith(".js")) weight.js += size;
  else if (f.endsWith(".js.gz")) weight.jsGzip += size;
  else if (f.endsWith(".css")) weight.css += size;
  else if (f.endsWith(".css.gz")) weight.cssGzip += size;
}
console.log(
  `page weight: JS ${weight.js} B (${weight.jsGzip} B gzip), CSS ${weight.css} B (${weight.cssGzip} B gzip)`,
);

const dir = mkdtempSync(join(tmpdir(), "pulsestream-bench-dashboard-"));
const server = await startServer("deno", {
  DATABASE_URL: `file:${join(dir, "bench.db")}`,
  BOOTSTRAP_API_KEY: KEY,
  LOG_LEVEL: "warn",
  RATE_LIMIT_EVENTS_PER_SEC: "1000000000",
  RATE_LIMIT_BURST: "1000000000",
});
const browser = await launchBrowser();
try {
  await browser.context.addInitScript((key) => sessionStorage.setItem("pulsestream.key", key), KEY);

  // A system alive: light traffic (100 events/s) so latency figures exist when the overview opens.
  const post = (events: unknown[]) =>
    fetch(`${server.url}/v1/events`, {
      method: "POST",
      headers: { "x-api-key": KEY, "content-type": "application/json" },
      body: JSON.stringify(events),
    });
  const light = setInterval(
    () =>
      void post(Array.from({ length: 10 }, (_, j) => ({ deviceId: `d${j}`, eventType: "light", value: j }))),
    100,
  );
  await new Promise((r) => setTimeout(r, 1500));
  const firstUpdate: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}/#/overview`);
    const handle = await page.waitForFunction(
      () =>
        (document.querySelector("[data-testid=chart-latency]") as HTMLElement | null)?.dataset.firstPointMs,
      undefined,
      { timeout: 10_000 },
    );
    firstUpdate.push(Number(await handle.jsonValue()));
    await page.close();
  }
  clearInterval(light);
  console.log(`first live chart update: ${firstUpdate.join(", ")} ms (median ${median(firstUpdate)} ms)`);

  // 10,000 events/s: batches of RATE/10 every 100 ms, while the tail page renders them.
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/#/tail`);
  await page.waitForSelector("text=Waiting for events");
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send("Performance.enable");
  const metrics = async () => {
    const { metrics } = await cdp.send("Performance.getMetrics");
    return Object.fromEntries(metrics.map((m: { name: string; value: number }) => [m.name, m.value]));
  };
  // Baseline: the same page with no traffic.
  const idle0 = await metrics();
  await new Promise((r) => setTimeout(r, 3000));
  const idle1 = await metrics();
  const idle = (idle1.TaskDuration - idle0.TaskDuration) / 3;
  console.log(`main thread idle (tail open, no traffic): TaskDuration ${(idle * 100).toFixed(1)} %`);
  let sent = 0;
  let failed = 0;
  let n = 0;
  const batch = RATE / 10;
  const load = setInterval(() => {
    const events = Array.from({ length: batch }, (_, j) => ({
      deviceId: `dev-${j % 50}`,
      eventType: "load",
      value: j,
      data: { n: n++ },
    }));
    post(events).then((r) => (r.status === 202 ? (sent += batch) : failed++), () => failed++);
  }, 100);
  await new Promise((r) => setTimeout(r, 2000)); // warm up
  const before = await metrics();
  const sentBefore = sent;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const after = await metrics();
  const elapsed = (performance.now() - t0) / 1000;
  const sentDuring = sent - sentBefore;
  const rows = await page.locator("[data-testid=tail-table] tbody tr").count();
  const rate = await page.locator("h2").first().textContent();
  const task = after.TaskDuration - before.TaskDuration;
  const script = after.ScriptDuration - before.ScriptDuration;
  const layout = after.LayoutDuration - before.LayoutDuration;
  const style = after.RecalcStyleDuration - before.RecalcStyleDuration;
  console.log(
    `main thread at ${Math.round(sentDuring / elapsed)} events/s accepted over ${elapsed.toFixed(1)} s: ` +
      `TaskDuration ${(task / elapsed * 100).toFixed(1)} % (${task.toFixed(2)} s), ` +
      `ScriptDuration ${(script / elapsed * 100).toFixed(1)} %, LayoutDuration ${
        (layout / elapsed * 100).toFixed(1)
      } %, RecalcStyleDuration ${(style / elapsed * 100).toFixed(1)} %; ` +
      `tail rows ${rows}, header "${rate}", failed requests ${failed}`,
  );
  // The page still answers: a click is handled promptly.
  const clickStarted = performance.now();
  await page.click("[data-testid=pause]", { timeout: 5000 });
  console.log(`pause click handled in ${Math.round(performance.now() - clickStarted)} ms`);
  // Paused, the stream is still read and parsed but the table is not rendered: the cost of reading alone.
  await new Promise((r) => setTimeout(r, 500));
  const p0 = await metrics();
  const pt0 = performance.now();
  await new Promise((r) => setTimeout(r, 5000));
  const p1 = await metrics();
  const pe = (performance.now() - pt0) / 1000;
  clearInterval(load);
  console.log(
    `paused (stream read, not rendered): TaskDuration ${
      ((p1.TaskDuration - p0.TaskDuration) / pe * 100).toFixed(1)
    } %, ` +
      `ScriptDuration ${((p1.ScriptDuration - p0.ScriptDuration) / pe * 100).toFixed(1)} %`,
  );
  await page.close();
} finally {
  await browser.close();
  await server.kill();
  rmSync(dir, { recursive: true, force: true });
}
