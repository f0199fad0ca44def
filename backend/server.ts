/**
 * Builds a whole PulseStream server from a `Config` and a SQL driver: store,
 * startup keys, group committer and app. Used by every entry point, so Deno,
 * Node and the tests wire the system the same way.
 */
import type { Context, Hono } from "hono";
import { createApp, VERSION } from "./app.ts";
import { ensureStartupKeys } from "./auth/api-keys.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { AppEnv } from "./http/app-env.ts";
import { GroupCommitter } from "./ingest/group-committer.ts";
import { IdempotencyGuard } from "./ingest/idempotency.ts";
import type { Logger } from "./logger.ts";
import { createSqliteStore } from "./store/sqlite/sqlite-store.ts";
import type { SqlDriver } from "./store/sqlite/sql-driver.ts";
import type { Store } from "./store/store.ts";

/** How often expired Idempotency-Key records are deleted. */
const IDEMPOTENCY_PURGE_INTERVAL_MS = 10 * 60_000;

export interface PulseStream {
  app: Hono<AppEnv>;
  store: Store;
  committer: GroupCommitter;
  /** The admin key created on first start, if one was. */
  initialKey: string | null;
  /** Commits what is queued, then closes the store. */
  close(): Promise<void>;
}

export interface PulseStreamOptions {
  driver: SqlDriver;
  logger: Logger;
  clock?: Clock;
  indexHtml?: string;
  /** The client's address for audit entries (runtime-specific). */
  clientAddress?: (c: Context) => string | null;
  /** Where the one-time initial key is printed (default: console.log). */
  print?: (line: string) => void;
}

export async function createPulseStream(config: Config, options: PulseStreamOptions): Promise<PulseStream> {
  const clock = options.clock ?? systemClock;
  const { logger } = options;
  const store = await createSqliteStore({ driver: options.driver });
  const initialKey = await ensureStartupKeys(store, {
    bootstrapKey: config.bootstrapApiKey,
    clock,
    logger,
    print: options.print ?? ((line) => console.log(line)),
  });
  const committer = new GroupCommitter(store, config.commit);
  const idempotency = new IdempotencyGuard(store, clock, config.idempotencyTtlMs);
  const purge = setInterval(() => {
    idempotency.purgeExpired().then(
      (n) => n > 0 && logger.info("expired idempotency records purged", { count: n }),
      (error) => logger.warn("idempotency purge failed", { error: String(error) }),
    );
  }, IDEMPOTENCY_PURGE_INTERVAL_MS);
  const app = createApp({
    idempotency,
    store,
    committer,
    clock,
    config,
    logger,
    indexHtml: options.indexHtml,
    clientAddress: options.clientAddress,
    startedAt: clock.now(),
    version: VERSION,
  });
  return {
    app,
    store,
    committer,
    initialKey,
    async close() {
      clearInterval(purge);
      idempotency.close();
      await committer.close();
      await store.close();
    },
  };
}
