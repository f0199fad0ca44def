/**
 * Browser-test helpers: Debian's Chromium driven by playwright-core (no browser download), a fresh
 * profile per launch, the dashboard built if needed, console errors collected per page.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { ROOT } from "../server-process.ts";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const ARTIFACTS = join(ROOT, "test-artifacts");

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Builds dist/dashboard unless it is newer than every source. */
export function buildDashboard(): void {
  execFileSync(process.execPath, [join(ROOT, "frontend/build.mjs"), "--if-needed"], {
    cwd: ROOT,
    stdio: "inherit", // a failing build shows esbuild's and Tailwind's errors
  });
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (see .ci/run)`);
  }
  const profile = mkdtempSync(join(tmpdir(), "pulsestream-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface ConsoleProblem {
  text: string;
  url: string;
}

/** Records console errors and uncaught page errors of `page`. */
export function watchConsole(page: Page): ConsoleProblem[] {
  const problems: ConsoleProblem[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push({ text: m.text(), url: m.location().url });
  });
  page.on("pageerror", (e) => problems.push({ text: `uncaught: ${e.message}`, url: page.url() }));
  return problems;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Opens the dashboard and signs in with `key`. */
export async function signIn(page: Page, url: string, key: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.fill("input[name=apiKey]", key);
  await page.click("button[type=submit]");
  await page.waitForSelector("[data-testid=sign-out]");
}
