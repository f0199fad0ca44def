/**
 * Reads the built dashboard (`dist/dashboard/`, written by `npm run build`)
 * for `dashboardRoutes`. node:fs works on Deno and Node alike. Returns null
 * when there is no build, so the server still starts (and `/` says so).
 */
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import type { DashboardAsset, DashboardFiles } from "../http/dashboard-routes.ts";

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
};

/** The default build folder, relative to the repository root. */
export const DASHBOARD_DIST = new URL("../../dist/dashboard/", import.meta.url);

export async function readDashboardFiles(dir: URL | string = DASHBOARD_DIST): Promise<DashboardFiles | null> {
  const root = typeof dir === "string" ? dir : decodeURIComponent(dir.pathname);
  let indexHtml: string;
  try {
    indexHtml = await readFile(join(root, "index.html"), "utf8");
  } catch {
    return null;
  }
  const assets = new Map<string, DashboardAsset>();
  const names = await readdir(join(root, "assets")).catch(() => [] as string[]);
  for (const name of names) {
    if (name.endsWith(".gz")) continue;
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = new Uint8Array(await readFile(join(root, "assets", name)));
    const gzip = names.includes(`${name}.gz`)
      ? new Uint8Array(await readFile(join(root, "assets", `${name}.gz`)))
      : undefined;
    assets.set(name, { body, gzip, contentType: type });
  }
  return { indexHtml, assets };
}
