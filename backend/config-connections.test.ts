import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.ts";

describe("connection, WebSocket-ingest and import limits in the configuration", () => {
  it("has documented defaults", () => {
    const config = loadConfig({});
    expect(config.connections).toEqual({
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 4096,
      denoGuard: true,
    });
    expect(config.wsIngest).toEqual({ maxConnections: 8, maxConnectionsPerKey: 2 });
    expect(config.imports).toEqual({
      maxRunning: 4,
      maxRunningPerKey: 1,
      maxDurationMs: 3_600_000,
      minBytesPerSecond: 1024,
    });
  });

  it("reads every variable", () => {
    const config = loadConfig({
      HEADERS_TIMEOUT_MS: "2000",
      KEEP_ALIVE_TIMEOUT_MS: "3000",
      MAX_CONNECTIONS: "50",
      DENO_CONNECTION_GUARD: "off",
      WS_INGEST_MAX_CONNECTIONS: "20",
      WS_INGEST_MAX_CONNECTIONS_PER_KEY: "5",
      IMPORT_MAX_RUNNING: "6",
      IMPORT_MAX_RUNNING_PER_KEY: "2",
      IMPORT_MAX_DURATION_MS: "60000",
      IMPORT_MIN_BYTES_PER_SEC: "0",
    });
    expect(config.connections).toEqual({
      headersTimeoutMs: 2000,
      keepAliveTimeoutMs: 3000,
      maxConnections: 50,
      denoGuard: false,
    });
    expect(config.wsIngest).toEqual({ maxConnections: 20, maxConnectionsPerKey: 5 });
    expect(config.imports).toEqual({
      maxRunning: 6,
      maxRunningPerKey: 2,
      maxDurationMs: 60_000,
      minBytesPerSecond: 0,
    });
  });

  it("refuses a bad value with one line naming the variable", () => {
    expect(() => loadConfig({ MAX_CONNECTIONS: "0" })).toThrow(
      'Invalid configuration: MAX_CONNECTIONS must be an integer from 1 to 1000000 (got "0")',
    );
    expect(() => loadConfig({ HEADERS_TIMEOUT_MS: "10s" })).toThrow(
      'Invalid configuration: HEADERS_TIMEOUT_MS must be an integer from 100 to 600000 (got "10s")',
    );
    expect(() => loadConfig({ DENO_CONNECTION_GUARD: "yes" })).toThrow(
      'Invalid configuration: DENO_CONNECTION_GUARD must be on or off (got "yes")',
    );
    expect(() => loadConfig({ IMPORT_MAX_DURATION_MS: "999" })).toThrow(
      'Invalid configuration: IMPORT_MAX_DURATION_MS must be an integer from 1000 to 604800000 (got "999")',
    );
  });
});
