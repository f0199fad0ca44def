import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.ts";

describe("loadConfig", () => {
  it("applies the documented defaults", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8000,
      host: "127.0.0.1",
      databaseUrl: "file:./data/pulsestream.db",
      sqliteDriver: "auto",
      bootstrapApiKey: undefined,
      logLevel: "info",
      partitions: 8,
      requestLimits: { maxBodyBytes: 10 * 1024 * 1024, maxEventsPerRequest: 10_000 },
      commit: { maxBatchEvents: 20_000, maxQueuedEvents: 200_000, lingerMs: 0 },
      rateLimit: { ratePerSecond: 10_000, burst: 20_000 },
      sqlite: { cacheMb: 128, walAutocheckpointPages: 20_000, synchronous: "normal" },
      stream: { maxSeries: 20_000, maxUnflushedDevices: 40_000 },
      alerts: { evalSliceMs: 10, evalSliceChanges: 250, allowedHosts: null, allowedNetworks: [] },
    });
    // The unflushed-device bound follows the series budget unless set.
    expect(loadConfig({ STREAM_MAX_SERIES: "1000" }).stream.maxUnflushedDevices).toBe(2000);
    expect(loadConfig({ STREAM_MAX_SERIES: "1000", STREAM_MAX_UNFLUSHED_DEVICES: "500" }).stream)
      .toMatchObject({ maxSeries: 1000, maxUnflushedDevices: 500 });
    expect(c.eventLimits).toEqual({
      maxIdLength: 128,
      maxDeviceIdLength: 128,
      maxEventTypeLength: 64,
      maxMetadataKeys: 32,
      maxMetadataKeyLength: 64,
      maxMetadataValueLength: 256,
      maxDataBytes: 16384,
      maxDataDepth: 32,
      maxFutureSkewMs: 300_000,
      retentionMs: 7 * 86_400_000,
    });
    // 2 MiB per live subscriber (a stall of ~0.6 s at 10,000 events/s); 100 subscribers at the bound
    // stay under the total, so none is closed as `live buffers full` for a shared pause.
    expect(c.live).toMatchObject({
      maxBufferedBytes: 2 * 1024 * 1024,
      maxTotalBufferedBytes: 256 * 1024 * 1024,
    });
    expect(100 * c.live.maxBufferedBytes).toBeLessThan(c.live.maxTotalBufferedBytes);
  });

  it("reads every variable", () => {
    const c = loadConfig({
      PORT: "9000",
      HOST: "0.0.0.0",
      RETENTION_RAW_DAYS: "30",
      MAX_EVENTS_PER_REQUEST: "500",
      LOG_LEVEL: "warn",
    });
    expect([c.port, c.host, c.eventLimits.retentionMs, c.requestLimits.maxEventsPerRequest, c.logLevel])
      .toEqual([9000, "0.0.0.0", 30 * 86_400_000, 500, "warn"]);
  });

  const bad: [Record<string, string>, string][] = [
    [{ PORT: "http" }, 'Invalid configuration: PORT must be an integer from 0 to 65535 (got "http")'],
    [{ PORT: "70000" }, 'Invalid configuration: PORT must be an integer from 0 to 65535 (got "70000")'],
    [
      { DATABASE_URL: "postgres://x" },
      'Invalid configuration: DATABASE_URL must be file:<path>, :memory:, libsql://, http(s):// or ws(s):// (got "postgres://x")',
    ],
    [
      { LOG_LEVEL: "loud" },
      'Invalid configuration: LOG_LEVEL must be debug, info, warn, error or silent (got "loud")',
    ],
    [
      { BOOTSTRAP_API_KEY: "short" },
      "Invalid configuration: BOOTSTRAP_API_KEY must be 16-256 printable characters without spaces",
    ],
    [
      { MAX_EVENTS_PER_REQUEST: "50000" },
      "Invalid configuration: COMMIT_MAX_BATCH_EVENTS must be at least MAX_EVENTS_PER_REQUEST (50000)",
    ],
    [
      { RETENTION_RAW_DAYS: "30", RETENTION_ROLLUP_MINUTE_DAYS: "14" },
      "Invalid configuration: RETENTION_ROLLUP_MINUTE_DAYS must be at least RETENTION_RAW_DAYS (30): rollups are computed from the raw events and must not expire before them",
    ],
    [
      { RETENTION_RAW_DAYS: "800", RETENTION_ROLLUP_MINUTE_DAYS: "800" },
      "Invalid configuration: RETENTION_ROLLUP_HOUR_DAYS must be at least RETENTION_RAW_DAYS (800): rollups are computed from the raw events and must not expire before them",
    ],
    [
      { STREAM_MAX_SERIES: "0" },
      'Invalid configuration: STREAM_MAX_SERIES must be an integer from 1 to 100000000 (got "0")',
    ],
    [
      { ALERTS_EVAL_SLICE_MS: "5000" },
      'Invalid configuration: ALERTS_EVAL_SLICE_MS must be an integer from 0 to 1000 (got "5000")',
    ],
    [
      { ALERTS_EVAL_SLICE_CHANGES: "0" },
      'Invalid configuration: ALERTS_EVAL_SLICE_CHANGES must be an integer from 1 to 100000 (got "0")',
    ],
    [
      { ALERTS_EVAL_WRITE_PAUSE_PCT: "-1" },
      'Invalid configuration: ALERTS_EVAL_WRITE_PAUSE_PCT must be an integer from 0 to 1000 (got "-1")',
    ],
    [
      { ALERTS_WEBHOOK_ALLOWED_NETWORKS: "10.0.0.0/33" },
      'Invalid configuration: ALERTS_WEBHOOK_ALLOWED_NETWORKS must be a comma list of addresses or CIDRs: "10.0.0.0/33" is not an address or CIDR (10.0.0.0/8, fd00::/8)',
    ],
    [
      { READYZ_WRITE_FAILURE_MS: "500" },
      'Invalid configuration: READYZ_WRITE_FAILURE_MS must be an integer from 1000 to 3600000 (got "500")',
    ],
    [
      { SQLITE_SYNCHRONOUS: "off" },
      'Invalid configuration: SQLITE_SYNCHRONOUS must be normal or full (got "off")',
    ],
  ];
  for (const [env, message] of bad) {
    it(`refuses ${JSON.stringify(env)} with one line naming the variable`, () => {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(message);
    });
  }
});
