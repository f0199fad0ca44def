/**
 * A whole PulseStream on a SQLite file whose rollup writes fail on demand
 * (`failingRollupWrites`), with stream processing on and the background timers
 * off: tests run retention and automatic replays themselves, on a fake clock.
 */
import { join } from "node:path";
import { type DriverPreference, openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { loadConfig } from "../config.ts";
import { createLogger } from "../logger.ts";
import { createPulseStream, type PulseStream } from "../server.ts";
import { failingRollupWrites } from "./store-faults.ts";
import { type FakeClock, TEST_KEY } from "./with-app.ts";

/** `file` in `dir`; `env` on top of the test defaults (1 min and 1 h windows, flushes only when asked). */
export async function openFaultyServer(
  dir: string,
  clock: FakeClock,
  options: { file: string; env?: Record<string, string>; preference?: DriverPreference },
) {
  const config = loadConfig({
    DATABASE_URL: `file:${join(dir, options.file)}`,
    BOOTSTRAP_API_KEY: TEST_KEY,
    LOG_LEVEL: "silent",
    ROLLUP_FLUSH_MS: "60000",
    WINDOW_RESOLUTIONS: "1m,1h",
    ...options.env,
  });
  const driver = await openSqlDriver(config.databaseUrl, {
    ...config.sqlite,
    preference: options.preference ?? "auto",
  });
  const { wrapped, faults } = failingRollupWrites(driver);
  const server = await createPulseStream(config, {
    driver: wrapped,
    logger: createLogger("silent"),
    clock,
    print: () => {},
    retentionTimer: false,
    autoReplayTimer: false,
  });
  return { server, driver, faults };
}

/** `POST /v1/events` of `body` with the test key. */
export async function postEvents(server: PulseStream, body: unknown): Promise<Response> {
  return await server.app.request("http://localhost/v1/events", {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "x-api-key": TEST_KEY, "content-type": "application/json" },
  });
}
