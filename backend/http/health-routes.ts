/**
 * Health: `/livez` (the process answers), `/readyz` (the store answers and the
 * commit queue is not saturated; 503 otherwise) and `/health` in PulseStream's
 * shape.
 */
import { Hono } from "hono";
import type { Clock } from "../clock.ts";
import type { GroupCommitter } from "../ingest/group-committer.ts";
import type { Store } from "../store/store.ts";
import type { AppEnv } from "./app-env.ts";

export interface HealthDeps {
  store: Store;
  committer: GroupCommitter;
  clock: Clock;
  startedAt: number;
  version: string;
  /** Stream-processing figures, or null when it is off. */
  stream?: () => Record<string, unknown> | null;
  /** Live-subscription figures. */
  live?: () => Record<string, unknown>;
}

async function checkStore(store: Store): Promise<{ ok: boolean; durationMs: number }> {
  const started = performance.now();
  try {
    await store.ping();
    return { ok: true, durationMs: performance.now() - started };
  } catch {
    return { ok: false, durationMs: performance.now() - started };
  }
}

export function healthRoutes(deps: HealthDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get("/livez", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const store = await checkStore(deps.store);
    const overloaded = deps.committer.saturated;
    const ready = store.ok && !overloaded;
    const body = {
      status: ready ? "ready" : "unavailable",
      checks: {
        store: { status: store.ok ? "ok" : "failing", durationMs: round(store.durationMs) },
        commitQueue: { status: overloaded ? "overloaded" : "ok", queuedEvents: deps.committer.queuedEvents },
      },
    };
    return ready ? c.json(body, 200) : c.json(body, 503, { "Retry-After": "1" });
  });

  app.get("/health", async (c) => {
    const store = await checkStore(deps.store);
    const stats = store.ok ? await deps.store.stats().catch(() => null) : null;
    const body = {
      status: store.ok ? "ok" : "error",
      timestamp: new Date(deps.clock.now()).toISOString(),
      uptime: Math.round((deps.clock.now() - deps.startedAt) / 1000),
      version: deps.version,
      services: { database: store.ok ? "up" : "down" },
      store: { engine: deps.store.engine, events: stats?.events ?? null, bytes: stats?.bytes ?? null },
      queue: { queuedEvents: deps.committer.queuedEvents },
      stream: deps.stream?.() ?? null,
      live: deps.live?.() ?? null,
    };
    return c.json(body, store.ok ? 200 : 503);
  });

  return app;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
