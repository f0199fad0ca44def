/**
 * `GET /metrics`: the Prometheus text exposition (format 0.0.4) of the
 * registry, open by default (`METRICS_AUTH=none`, like most exporters) or
 * behind a key with `read` scope (`METRICS_AUTH=read`; Prometheus sends it
 * with `authorization: {credentials: <key>}` as `Authorization: Bearer`).
 */
import { type Context, Hono } from "hono";
import { EXPOSITION_CONTENT_TYPE } from "../observability/exposition.ts";
import type { MetricsRegistry } from "../observability/registry.ts";
import type { AppEnv } from "./app-env.ts";
import { type AuthDeps, requireScope } from "./require-scope.ts";

export type MetricsAuth = "none" | "read";

export interface PrometheusRoutesDeps {
  registry: MetricsRegistry;
  auth: AuthDeps;
  metricsAuth: MetricsAuth;
}

export function prometheusRoutes(deps: PrometheusRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const scrape = async (c: Context<AppEnv>) => {
    const text = await deps.registry.render();
    return c.body(text, 200, { "content-type": EXPOSITION_CONTENT_TYPE, "cache-control": "no-store" });
  };
  if (deps.metricsAuth === "read") app.get("/metrics", requireScope("read", deps.auth), scrape);
  else app.get("/metrics", scrape);
  return app;
}
