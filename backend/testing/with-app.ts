/**
 * Scoped test resources: a real SQLite file in a temp directory, a full
 * PulseStream wired as in production, always closed and deleted afterwards.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DriverPreference, openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { nodeWebhookClient } from "../adapters/webhook-client.ts";
import type { WebhookClient } from "../alerts/webhook-client.ts";
import { sqliteBackupTarget } from "../adapters/sqlite/sqlite-backup.ts";
import type { Clock } from "../clock.ts";
import { type Config, loadConfig } from "../config.ts";
import { createLogger, type Logger } from "../logger.ts";
import { createPulseStream, type PulseStream } from "../server.ts";
import type { SqlDriver } from "../store/sqlite/sql-driver.ts";

export const TEST_KEY = "test-admin-key-0123456789abcdef";

/** A clock that only moves when told to. */
export class FakeClock implements Clock {
  constructor(public current = Date.parse("2026-11-22T12:00:00.000Z")) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

/** A fresh temp directory, removed after `fn`. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-test-"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface AppFixture {
  server: PulseStream;
  config: Config;
  dir: string;
  /** `app.request` with the admin key and JSON content type preset. */
  request(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
}

/** Runs `fn` against a PulseStream on a real SQLite file. */
export function withApp<T>(
  fn: (f: AppFixture) => Promise<T>,
  options: {
    env?: Record<string, string>;
    clock?: Clock;
    driver?: DriverPreference;
    indexHtml?: string;
    /** The server's logger (default: silent). */
    logger?: Logger;
    /** Wraps the real driver, e.g. to make one kind of statement fail on demand. */
    wrapDriver?: (driver: SqlDriver) => SqlDriver;
    /** The webhook client (default: the runtime's, backend/adapters/webhook-client.ts). */
    webhookClient?: WebhookClient;
    /** Serve `POST /v1/admin/backup`, writing into `<dir>/backups` (as the entries wire it). */
    backups?: boolean;
  } = {},
): Promise<T> {
  return withTempDir(async (dir) => {
    const config = loadConfig({
      DATABASE_URL: `file:${join(dir, "test.db")}`,
      BOOTSTRAP_API_KEY: TEST_KEY,
      LOG_LEVEL: "silent",
      ...options.env,
    });
    const driver = await openSqlDriver(config.databaseUrl, {
      ...config.sqlite,
      preference: options.driver ?? "auto",
    });
    const server = await createPulseStream(config, {
      driver: options.wrapDriver ? options.wrapDriver(driver) : driver,
      logger: options.logger ?? createLogger("silent"),
      clock: options.clock,
      dashboard: options.indexHtml === undefined ? null : { indexHtml: options.indexHtml, assets: new Map() },
      print: () => {},
      webhookClient: options.webhookClient ?? nodeWebhookClient,
      backupTarget: options.backups
        ? sqliteBackupTarget(join(dir, "test.db"), join(dir, "backups"))
        : undefined,
    });
    const request = (path: string, init: RequestInit & { key?: string | null } = {}) => {
      const headers = new Headers(init.headers);
      const key = init.key === undefined ? TEST_KEY : init.key;
      if (key !== null && !headers.has("x-api-key") && !headers.has("authorization")) {
        headers.set("x-api-key", key);
      }
      if (init.body !== undefined && !headers.has("content-type")) {
        headers.set("content-type", "application/json");
      }
      return Promise.resolve(server.app.request(`http://localhost${path}`, { ...init, headers }));
    };
    try {
      return await fn({ server, config, dir, request });
    } finally {
      await server.close();
    }
  });
}

/** Number of events in the fixture's store. */
export async function storedCount(
  f: { server: { store: { stats(): Promise<{ events: number }> } } },
): Promise<number> {
  return (await f.server.store.stats()).events;
}
