/**
 * Health: `/livez` (the process answers), `/readyz` (every readiness check
 * passes: the store answers, the latest commit did not fail within
 * `writeFailureMs` and the commit queue is not saturated, plus any check
 * another subsystem adds; 503 otherwise) and `/health` in PulseStream's
 * shape. `?verbose` on `/livez` and `/readyz` answers in Kubernetes' text
 * style, one line per check with its duration:
 *
 *     [+]store ok (0.42 ms)
 *     [-]commitQueue failed: 190000 of 200000 events queued (0.01 ms)
 *     readyz check failed
 */
import { type Context, Hono } from "hono";
import type { Clock } from "../clock.ts";
import type { GroupCommitter } from "../ingest/group-committer.ts";
import type { Logger } from "../logger.ts";
import type { Store } from "../store/store.ts";
import type { AppEnv } from "./app-env.ts";

/**
 * One readiness check. `run` resolves `{ ok }` (with a short `reason` when not ok and any
 * `details` for the JSON answer); throwing or taking longer than the check timeout counts as
 * failed. Names are short identifiers (`store`, `commitQueue`).
 */
export interface ReadinessCheck {
  name: string;
  run(): Promise<CheckResult> | CheckResult;
}

export interface CheckResult {
  ok: boolean;
  reason?: string;
  details?: Record<string, unknown>;
}

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
  /** Further readiness checks (run after the store and commit-queue checks). */
  checks?: readonly ReadinessCheck[];
  /** How long after a failed commit (none succeeding since) the `writes` check fails, ms (default 30000). */
  writeFailureMs?: number;
  /** Longest a readiness check may take, ms (default 2000). */
  checkTimeoutMs?: number;
  /** Where a thrown readiness check's error goes (warn), since the answer never shows it. */
  logger?: Logger;
}

interface CheckOutcome extends CheckResult {
  name: string;
  durationMs: number;
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
  const timeoutMs = deps.checkTimeoutMs ?? 2000;
  const checks: ReadinessCheck[] = [
    {
      name: "store",
      run: () =>
        deps.store.ping().then(
          () => ({ ok: true }),
          () => ({ ok: false, reason: "store unavailable" }),
        ),
    },
    {
      // The store check reads; a store can answer reads while every commit fails.
      name: "writes",
      run: () => {
        const failure = deps.committer.lastFailure;
        const agoMs = failure ? Math.round(performance.now() - failure.at) : null;
        return agoMs !== null && agoMs <= (deps.writeFailureMs ?? 30_000)
          ? {
            ok: false,
            reason: `the last commit failed ${agoMs} ms ago`,
            details: { lastFailureMsAgo: agoMs },
          }
          : { ok: true };
      },
    },
    {
      name: "commitQueue",
      run: () => {
        const queuedEvents = deps.committer.queuedEvents;
        return deps.committer.saturated
          ? { ok: false, reason: `overloaded: ${queuedEvents} events queued`, details: { queuedEvents } }
          : { ok: true, details: { queuedEvents } };
      },
    },
    ...(deps.checks ?? []),
  ];

  app.get("/livez", (c) => {
    if (wantsVerbose(c)) return c.text("[+]ping ok\nlivez check passed\n");
    return c.json({ status: "ok" });
  });

  app.get("/readyz", async (c) => {
    const results = await Promise.all(checks.map((check) => runCheck(check, timeoutMs, deps.logger)));
    const ready = results.every((r) => r.ok);
    const headers: Record<string, string> = ready ? {} : { "Retry-After": "1" };
    if (wantsVerbose(c)) {
      const lines = results.map((r) =>
        `[${r.ok ? "+" : "-"}]${r.name} ${
          r.ok ? "ok" : `failed: ${r.reason ?? "failed"}`
        } (${r.durationMs} ms)`
      );
      lines.push(`readyz check ${ready ? "passed" : "failed"}`, "");
      return c.text(lines.join("\n"), ready ? 200 : 503, headers);
    }
    const body = {
      status: ready ? "ready" : "unavailable",
      checks: Object.fromEntries(results.map((r) => [r.name, {
        ...r.details,
        status: r.ok ? "ok" : r.name === "commitQueue" ? "overloaded" : "failing",
        ...(r.ok ? {} : { reason: r.reason }),
        durationMs: r.durationMs,
      }])),
    };
    return c.json(body, ready ? 200 : 503, headers);
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

/** `?verbose` (any value, or none), as Kubernetes' health endpoints take it. */
function wantsVerbose(c: Context<AppEnv>): boolean {
  return c.req.query("verbose") !== undefined;
}

async function runCheck(check: ReadinessCheck, timeoutMs: number, logger?: Logger): Promise<CheckOutcome> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let result: CheckResult;
  try {
    const timeout = new Promise<CheckResult>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
    });
    result = await Promise.race([Promise.resolve().then(() => check.run()), timeout]);
  } catch (error) {
    // The error itself may name internals (SQL, paths); it goes to the logs, not to this answer.
    logger?.warn("readiness check failed", { check: check.name, error: String(error) });
    result = { ok: false, reason: "check failed" };
  } finally {
    clearTimeout(timer);
  }
  return { name: check.name, ...result, durationMs: round(performance.now() - started) };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
