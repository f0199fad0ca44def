/**
 * One browser-test file's setup: the real server process (Deno, main.tsx) on a fresh SQLite file with a
 * known admin key, Debian's Chromium with a fresh profile, the dashboard built, and every page's console
 * errors collected (asserted empty by `expectNoConsoleErrors`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import { type ServerProcess, startServer } from "../server-process.ts";
import { type Browser, buildDashboard, type ConsoleProblem, launchBrowser, watchConsole } from "./browser.ts";

export const KEY = "dashboard-test-admin-key-0123456789";

export interface Dashboard {
  readonly url: string;
  /** The first page (opened before the tests). */
  readonly page: Page;
  /** Whether the server has the alerting API (it answers /v1/alerts/rules with something but 404). */
  readonly alertsAvailable: boolean;
  newPage(): Promise<Page>;
  post(path: string, body: unknown, key?: string): Promise<Response>;
  /** Console errors of every page opened so far, minus the alerts probe's 404 without alerting. */
  consoleErrors(): ConsoleProblem[];
}

/** Registers beforeAll/afterAll for a test file; the returned object is usable inside tests. */
export function setupDashboard(env: Record<string, string> = {}): Dashboard {
  let server: ServerProcess;
  let browser: Browser;
  let dir: string;
  let first: Page;
  let alerts = false;
  const problems: ConsoleProblem[][] = [];
  const d: Dashboard = {
    get url() {
      return server.url;
    },
    get page() {
      return first;
    },
    get alertsAvailable() {
      return alerts;
    },
    async newPage() {
      const p = await browser.context.newPage();
      problems.push(watchConsole(p));
      return p;
    },
    post: (path, body, key = KEY) =>
      fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    consoleErrors: () => problems.flat().filter((p) => alerts || !p.url.includes("/v1/alerts/rules")),
  };
  beforeAll(async () => {
    buildDashboard();
    dir = mkdtempSync(join(tmpdir(), "pulsestream-dashboard-"));
    server = await startServer("deno", {
      DATABASE_URL: `file:${join(dir, "test.db")}`,
      BOOTSTRAP_API_KEY: KEY,
      LOG_LEVEL: "warn",
      ...env,
    });
    alerts = (await fetch(`${server.url}/v1/alerts/rules`, { headers: { "x-api-key": KEY } })).status !== 404;
    browser = await launchBrowser();
    first = await d.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return d;
}

export function expectNoConsoleErrors(d: Dashboard): void {
  expect(d.consoleErrors()).toEqual([]);
}

/** Waits until the element `testId` has `data-<attr>` equal to `value`. */
export async function waitForData(page: Page, testId: string, attr: string, value: string): Promise<void> {
  await page.waitForFunction(
    ([id, a, v]) => (document.querySelector(`[data-testid=${id}]`) as HTMLElement | null)?.dataset[a] === v,
    [testId, attr, value] as const,
  );
}

/** The explorer URL's hash parameters. */
export function hashParams(page: Page): URLSearchParams {
  return new URLSearchParams(new URL(page.url()).hash.split("?")[1]);
}
