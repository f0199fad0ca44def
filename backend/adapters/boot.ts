/**
 * Start-up shared by the Deno and Node entries: validate the environment, open
 * the driver, build the server. Runtime-specific work (reading files, serving,
 * signals, exiting) stays in the entries.
 */
import type { Context } from "hono";
import { type Config, ConfigError, loadConfig } from "../config.ts";
import { createLogger, type Logger } from "../logger.ts";
import { createPulseStream, type PulseStream } from "../server.ts";
import { openSqlDriver } from "./sqlite/open-driver.ts";
import { readerWorkerFactory } from "./reader-worker/start.ts";
import { checkDatabaseFile, openFailureLine, redactUrl } from "./sqlite/database-file.ts";
import { StoreUnavailableError } from "../errors.ts";
import type { SqlDriver } from "../store/sqlite/sql-driver.ts";
import { zlibPayloadCodec } from "./sqlite/zlib-payload-codec.ts";
import { fileColdStorage } from "./cold-storage/file-cold-storage.ts";
import { nodeWebhookClient } from "./webhook-client.ts";
import { sqliteFilePath } from "./sqlite/file-path.ts";
import { sqliteBackupTarget } from "./sqlite/sqlite-backup.ts";
import type { RealtimeAdapter } from "../http/stream-routes.ts";
import type { DashboardFiles } from "../http/dashboard-routes.ts";

export interface Booted {
  config: Config;
  logger: Logger;
  server: PulseStream;
}

/**
 * Returns the booted server, or prints one line and returns `null` (the entry exits with 1) on a
 * bad configuration or a database that cannot be opened: the line names the file and the cause.
 */
export async function boot(
  env: Record<string, string | undefined>,
  options: {
    dashboard?: DashboardFiles | null;
    clientAddress?: (c: Context) => string | null;
    /** Closes the request's connection at once (see `PulseStreamOptions.dropConnection`). */
    dropConnection?: (c: Context) => void;
    /** WebSockets of the runtime, built from the validated config. */
    realtime?: (config: Config) => RealtimeAdapter;
  } = {},
): Promise<Booted | null> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return null;
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  let driver: SqlDriver;
  try {
    checkDatabaseFile(config.databaseUrl);
    driver = await openSqlDriver(config.databaseUrl, {
      ...config.sqlite,
      preference: config.sqliteDriver,
    });
  } catch (error) {
    console.error(openFailureLine(config.databaseUrl, error));
    return null;
  }
  let server: PulseStream;
  try {
    server = await createPulseStream(config, {
      driver,
      payloadCodec: zlibPayloadCodec,
      logger,
      webhookClient: nodeWebhookClient,
      readOffload: config.readWorker ? readerWorkerFactory(config.databaseUrl, config.sqlite) : null,
      dashboard: options.dashboard,
      clientAddress: options.clientAddress,
      dropConnection: options.dropConnection,
      realtime: options.realtime?.(config),
      backupTarget: driver.local
        ? sqliteBackupTarget(sqliteFilePath(config.databaseUrl), config.backupDir)
        : undefined,
      coldStorage: config.retention.exportDir === null
        ? undefined
        : fileColdStorage(config.retention.exportDir),
    });
  } catch (error) {
    // The store's first reads and the migrations are where a corrupt or read-only file shows.
    if (!(error instanceof StoreUnavailableError)) throw error;
    console.error(openFailureLine(config.databaseUrl, error));
    await driver.close().catch(() => {});
    return null;
  }
  logger.info("store open", { engine: server.store.engine, url: redactUrl(config.databaseUrl) });
  return { config, logger, server };
}
