/**
 * The dashboard's static files: `/` answers the built index.html (no-cache,
 * so a new build is seen at once) and `/assets/<name>` the content-hashed
 * bundles (immutable for a year). Files are handed in already read, so this
 * knows no file system; a gzip twin is served when the client accepts it.
 * A strict Content-Security-Policy: scripts, styles and connections only
 * from this origin, no inline script or style element.
 */
import { Hono } from "hono";
import { NotFoundError } from "../errors.ts";
import type { AppEnv } from "./app-env.ts";

export interface DashboardAsset {
  body: Uint8Array;
  /** The same bytes gzip-compressed, if the build made them. */
  gzip?: Uint8Array;
  contentType: string;
}

/** What the build wrote: the page and its assets by file name (e.g. `app-3f2a1c.js`). */
export interface DashboardFiles {
  indexHtml: string;
  assets: ReadonlyMap<string, DashboardAsset>;
}

export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Content-Security-Policy": DASHBOARD_CSP,
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
};

export function dashboardRoutes(files: DashboardFiles | null): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get("/", (c) => {
    if (!files) throw new NotFoundError("No dashboard built: run `npm run build`");
    return c.html(files.indexHtml, 200, { "Cache-Control": "no-cache", ...SECURITY_HEADERS });
  });

  app.get("/assets/:name", (c) => {
    const asset = files?.assets.get(c.req.param("name"));
    if (!asset) throw new NotFoundError(`No asset ${c.req.param("name")}`);
    const gzip = asset.gzip && /\bgzip\b/.test(c.req.header("accept-encoding") ?? "");
    const body = gzip ? asset.gzip! : asset.body;
    const headers: Record<string, string> = {
      "Content-Type": asset.contentType,
      "Cache-Control": "public, max-age=31536000, immutable",
      "Vary": "Accept-Encoding",
      ...SECURITY_HEADERS,
    };
    if (gzip) headers["Content-Encoding"] = "gzip";
    return c.body(body as Uint8Array<ArrayBuffer>, 200, headers);
  });

  return app;
}
