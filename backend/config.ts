/**
 * Configuration, read once from environment variables and validated with zod.
 * `loadConfig(env)` returns a typed `Config` or throws `ConfigError` whose
 * message is one line naming the variable, e.g.
 * `Invalid configuration: PORT must be an integer from 0 to 65535 (got "http")`.
 * Every variable is documented in `docs/CONFIGURATION.md`.
 */
import { z } from "zod";
import type { LogLevel } from "./logger.ts";
import type { LiveLimits } from "./realtime/live-hub.ts";
import type { ImportLimits } from "./import/import-service.ts";
import type { ReadLimits } from "./reads/read-gate.ts";
import type { AlertLimits } from "./alerts/limits.ts";
import { type Network, parseNetworks } from "./alerts/webhook-address.ts";
import { type HostAllowList, parseAllowedHosts } from "./alerts/webhook-hosts.ts";
import {
  DEFAULT_EVENT_LIMITS,
  DEFAULT_REQUEST_LIMITS,
  type EventLimits,
  type RequestLimits,
} from "../shared/limits.ts";

/**
 * Connection bounds of the HTTP server (see docs/CONFIGURATION.md, "Connections"). The core never
 * sees a socket; the runtime entries (`backend/adapters/deno/`, `backend/adapters/node/`) enforce these.
 */
export interface ConnectionLimits {
  /** A connection must deliver a complete request head within this long of opening, ms. */
  headersTimeoutMs: number;
  /** A connection with no request in progress is closed after this long, ms. */
  keepAliveTimeoutMs: number;
  /** Open HTTP connections in total; beyond it a new one gets a raw 503 and is closed. */
  maxConnections: number;
  /**
   * Deno only: serve each connection through the guard that enforces the three limits above
   * (`adapters/deno/guarded-serve.ts`); off: plain `Deno.serve`, which enforces none of them.
   */
  denoGuard: boolean;
}

/** WebSocket ingestion caps (see `http/ingest-ws-sockets.ts`). */
export interface WsIngestLimits {
  /** Open ingest WebSockets in total (then 503 at the upgrade). */
  maxConnections: number;
  /** Open ingest WebSockets per API key (then 429 at the upgrade). */
  maxConnectionsPerKey: number;
}

/** The validated configuration of one server process. */
export interface Config {
  port: number;
  host: string;
  /** `file:./data/pulsestream.db`, `:memory:`, or a remote libSQL URL. */
  databaseUrl: string;
  /** `auto` picks the fastest local driver the runtime has (see adapters/sqlite). */
  sqliteDriver: "auto" | "node-sqlite-worker" | "node-sqlite" | "libsql";
  /** If set, this key exists with every scope after start. */
  bootstrapApiKey: string | undefined;
  logLevel: LogLevel;
  /** Number of partitions `deviceId` is hashed into. */
  partitions: number;
  eventLimits: EventLimits;
  requestLimits: RequestLimits;
  commit: CommitConfig;
  /** Origins allowed to call the API from browsers: `*`, a list, or none (same origin only). */
  corsOrigins: "*" | string[] | null;
  /** Longest time a client may take to send its request body, ms (then 408). */
  requestTimeoutMs: number;
  /** Sockets, header and keep-alive timeouts, enforced by the runtime entries. */
  connections: ConnectionLimits;
  /** WebSocket ingestion (`GET /v1/ingest`) connection caps. */
  wsIngest: WsIngestLimits;
  /** Bulk import (`POST /v1/import`) slots and time bounds. */
  imports: ImportLimits;
  /** InfluxDB line protocol ingest (`POST /api/v2/write`, `POST /write`). */
  lineProtocol: LineProtocolConfig;
  /** How long a completed Idempotency-Key outcome is remembered, ms. */
  idempotencyTtlMs: number;
  /** Default per-key event rate limit (keys may override it through the admin API). */
  rateLimit: { ratePerSecond: number; burst: number };
  sqlite: SqliteTuning;
  stream: StreamConfig;
  metrics: MetricsQueryConfig;
  reads: ReadLimits;
  /** Whether heavy reads run on a reader worker where the runtime has one (READ_WORKER). */
  readWorker: boolean;
  live: LiveConfig;
  observability: ObservabilityConfig;
  alerts: AlertsConfig;
  retention: RetentionConfig;
  /** Directory of the files written by `POST /v1/admin/backup`. */
  backupDir: string;
}

/** Prometheus metrics (see docs/OBSERVABILITY.md). */
export interface ObservabilityConfig {
  /** `none`: /metrics is open; `read`: it needs a key with read scope. */
  metricsAuth: "none" | "read";
  /** Whether instruments count at all (off: no-ops and no /metrics; for measuring their cost). */
  instrumentation: boolean;
}

/** Alert evaluation and notification (see `alerts/`, docs/ALERTING.md). */
export interface AlertsConfig {
  /** Timer period: nodata and system rules, group timers, delivery; ms. */
  evalIntervalMs: number;
  /**
   * Longest an evaluation round holds the event loop before it commits what it evaluated and lets
   * ingest and requests run, ms (one metrics query and its rules can take longer).
   */
  evalSliceMs: number;
  /**
   * Most state changes an evaluation slice commits in one transaction (the writer is shared with
   * ingest: a commit never waits behind a larger alert transaction).
   */
  evalSliceChanges: number;
  /**
   * After a slice that wrote to the store, the round pauses for this percentage of the slice's time
   * (evaluation and commit): a burst of state changes then uses the event loop and the writer
   * (shared with ingest) only part of the time. 0: no pause.
   */
  evalWritePausePct: number;
  /** Longest wait for a webhook receiver's answer, ms. */
  webhookTimeoutMs: number;
  /** First retry delay, ms; it doubles per failed attempt up to `retryMaxMs` (±50% jitter). */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Attempts before a notification is kept as `dead`. */
  maxAttempts: number;
  /** Base of `externalURL` and `generatorURL` in payloads; null: http://HOST:PORT. */
  externalUrl: string | null;
  /** Largest webhook body, bytes (alerts beyond are counted in `truncatedAlerts`). */
  maxPayloadBytes: number;
  /** How long history and finished notifications are kept, ms. */
  retentionMs: number;
  /** Hosts webhook receivers may point at (`ALERTS_WEBHOOK_ALLOWED_HOSTS`); null: any host. */
  allowedHosts: HostAllowList;
  /**
   * Denied address ranges (loopback, private, link-local, …) that receivers may still reach
   * (`ALERTS_WEBHOOK_ALLOWED_NETWORKS`); empty: none.
   */
  allowedNetworks: Network[];
  limits: AlertLimits;
}

/** Retention per storage tier and the cold export (see docs/STORAGE.md). */
export interface RetentionConfig {
  /** Raw events older than this are dropped (whole UTC days) and refused at ingest, ms. */
  rawMs: number;
  /** Rollup buckets finer than an hour are kept this long, ms. */
  minuteRollupsMs: number;
  /** Rollup buckets of an hour or more are kept this long, ms. */
  hourRollupsMs: number;
  /** How often the retention job runs, ms. */
  checkMs: number;
  /** Where each day leaving the raw tier is exported before it is dropped (null: no export). */
  exportDir: string | null;
  exportFormat: "ndjson.gz" | "parquet";
}

/** Live subscriptions (see `realtime/live-hub.ts`). */
export interface LiveConfig extends LiveLimits {
  /** SSE ping comments and WebSocket pings, ms. */
  heartbeatMs: number;
  /** How long a closed subscriber may take to receive its close message before it is dropped, ms. */
  closeGraceMs: number;
}

/** Stream processing (see `stream/engine.ts`). */
export interface StreamConfig {
  /** Whether committed events are aggregated at all (off: no rollups, no live windows). */
  enabled: boolean;
  /** Window sizes, ms, ascending; each divides the next. Those under a minute are live only. */
  resolutions: number[];
  allowedLatenessMs: number;
  idleMs: number;
  flushMs: number;
  /** Tick period: watermarks advance and live updates go out at most this often per series. */
  liveUpdateMs: number;
  /** Consecutive failed rollup flushes after which the pending work goes to the dead letters. */
  flushMaxAttempts: number;
  /** Wait before the first automatic replay of a parked flush, ms; doubles after each failed one. */
  replayBackoffMs: number;
  /** Failed automatic replays after which a parked flush waits for an admin (0: none). */
  replayMaxAttempts: number;
  /** Most per-device series aggregated per device (stream/series-budget.ts). */
  maxSeries: number;
  /** Most tracked devices opening new per-device state between rollup flushes before ingestion answers 503. */
  maxUnflushedDevices: number;
}

/** Limits of the metrics query API. */
export interface MetricsQueryConfig {
  /** Most points per series in one answer. */
  maxPoints: number;
  /** Most series in one answer (groupBy=deviceId, deviceId lists). */
  maxSeries: number;
  /** Most raw events one query may read (steps under a minute, metadata filters). */
  maxRawEvents: number;
  /** Most values in one answer: points × series × aggregates (else 400). */
  maxCells: number;
  /** Most stored buckets one query reads, each a sketch merge for quantiles (else 400). */
  maxScanBuckets: number;
  /** Bytes after which an answer stops writing series and says `"truncated": true`. */
  maxAnswerBytes: number;
}

/** Resolutions below this are live only; this and above are stored as rollups. */
export const STORED_MIN_RESOLUTION_MS = 60_000;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `250ms`, `1s`, `5m`, `1h`, `1d` → ms, or null. */
export function parseDuration(text: string): number | null {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * DURATION_UNITS[m[2]];
  return ms > 0 && Number.isSafeInteger(ms) ? ms : null;
}

const resolutionList = z.string().trim().transform((v, ctx) => {
  const parts = v.split(",").map((p) => parseDuration(p));
  const ok = parts.length > 0 && parts.every((p) => p !== null && p >= 1000 && p % 1000 === 0) &&
    parts.every((p, i) => i === 0 || (p! > parts[i - 1]! && p! % parts[i - 1]! === 0)) &&
    parts.some((p) => p! >= STORED_MIN_RESOLUTION_MS);
  if (!ok) {
    ctx.addIssue({
      code: "custom",
      message:
        "must be ascending durations like 1s,1m,1h (whole seconds, each dividing the next, at least one of 1m or more)",
    });
    return z.NEVER;
  }
  return parts as number[];
});

/** Group-commit settings (see `ingest/group-committer.ts`). */
export interface CommitConfig {
  /** Most events in one transaction; requests are never split across transactions. */
  maxBatchEvents: number;
  /** Most events waiting to be committed; beyond it ingestion answers 503. */
  maxQueuedEvents: number;
  /** How long the writer waits for more requests before committing, in ms (0: next tick). */
  lingerMs: number;
  /** Most group commits handed to the store at once (the store may allow fewer). */
  maxInFlight: number;
  /** How long after a failed commit, with none succeeding since, /readyz answers 503, in ms. */
  writeFailureUnreadyMs: number;
}

/** SQLite tuning for local files. */
export interface SqliteTuning {
  /** Page cache per connection, MiB. */
  cacheMb: number;
  /** WAL pages written before an automatic checkpoint. */
  walAutocheckpointPages: number;
  /** `normal`: durable across process crashes; `full`: also across OS crashes (fsync per commit). */
  synchronous: "normal" | "full";
  /** Memory for cached scalar rollup columns, MiB. */
  rollupCacheMb: number;
}

/** How InfluxDB line protocol maps to events (backend/ingest/line-points.ts). */
export interface LineProtocolConfig {
  /** Tag names that carry the device id, in order of preference (LINE_PROTOCOL_DEVICE_TAGS). */
  deviceTags: string[];
  /** Longest line, in characters (LINE_PROTOCOL_MAX_LINE_LENGTH); a longer line is refused. */
  maxLineLength: number;
}

/** The configuration is invalid; `message` is the one line to print. */
export class ConfigError extends Error {}

const int = (min: number, max: number) =>
  z.string().trim().regex(/^-?\d+$/, { error: `must be an integer from ${min} to ${max}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { error: `must be an integer from ${min} to ${max}` });

const DAY_MS = 86_400_000;

const schema = z.object({
  PORT: int(0, 65535).default(8000),
  HOST: z.string().trim().min(1, { error: "must not be empty" }).default("127.0.0.1"),
  DATABASE_URL: z.string().trim().refine((u) => /^(file:|libsql:|https?:|wss?:|:memory:$)/.test(u), {
    error: "must be file:<path>, :memory:, libsql://, http(s):// or ws(s)://",
  }).default("file:./data/pulsestream.db"),
  SQLITE_DRIVER: z.enum(["auto", "node-sqlite-worker", "node-sqlite", "libsql"], {
    error: "must be auto, node-sqlite-worker, node-sqlite or libsql",
  })
    .default("auto"),
  BOOTSTRAP_API_KEY: z.string().refine((k) => k.length >= 16 && k.length <= 256 && /^[\x21-\x7e]+$/.test(k), {
    error: "must be 16-256 printable characters without spaces",
  }).optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"], {
    error: "must be debug, info, warn, error or silent",
  }).default("info"),
  PARTITIONS: int(1, 1024).default(8),
  MAX_BODY_BYTES: int(1024, 1024 ** 3).default(DEFAULT_REQUEST_LIMITS.maxBodyBytes),
  MAX_EVENTS_PER_REQUEST: int(1, 1_000_000).default(DEFAULT_REQUEST_LIMITS.maxEventsPerRequest),
  MAX_ID_LENGTH: int(1, 1024).default(DEFAULT_EVENT_LIMITS.maxIdLength),
  MAX_DEVICE_ID_LENGTH: int(1, 1024).default(DEFAULT_EVENT_LIMITS.maxDeviceIdLength),
  MAX_EVENT_TYPE_LENGTH: int(1, 1024).default(DEFAULT_EVENT_LIMITS.maxEventTypeLength),
  MAX_METADATA_KEYS: int(0, 1024).default(DEFAULT_EVENT_LIMITS.maxMetadataKeys),
  MAX_METADATA_KEY_LENGTH: int(1, 1024).default(DEFAULT_EVENT_LIMITS.maxMetadataKeyLength),
  MAX_METADATA_VALUE_LENGTH: int(1, 65536).default(DEFAULT_EVENT_LIMITS.maxMetadataValueLength),
  MAX_DATA_BYTES: int(0, 1024 * 1024).default(DEFAULT_EVENT_LIMITS.maxDataBytes),
  MAX_DATA_DEPTH: int(1, 256).default(DEFAULT_EVENT_LIMITS.maxDataDepth),
  MAX_FUTURE_SKEW_MS: int(0, 7 * DAY_MS).default(DEFAULT_EVENT_LIMITS.maxFutureSkewMs),
  RETENTION_RAW_DAYS: int(1, 36500).default(DEFAULT_EVENT_LIMITS.retentionMs / DAY_MS),
  COMMIT_MAX_BATCH_EVENTS: int(1, 1_000_000).default(20_000),
  COMMIT_QUEUE_MAX_EVENTS: int(1, 10_000_000).default(200_000),
  COMMIT_LINGER_MS: int(0, 1000).default(0),
  COMMIT_MAX_IN_FLIGHT: int(1, 4).default(1),
  READYZ_WRITE_FAILURE_MS: int(1000, 3_600_000).default(30_000),
  CORS_ORIGINS: z.string().trim().refine(
    (v) => v === "*" || v.split(",").every((o) => /^https?:\/\/[^\s/,]+$/.test(o.trim())),
    { error: 'must be "*" or a comma-separated list of origins like https://app.example.com' },
  ).optional(),
  REQUEST_TIMEOUT_MS: int(100, 3_600_000).default(30_000),
  HEADERS_TIMEOUT_MS: int(100, 600_000).default(10_000),
  KEEP_ALIVE_TIMEOUT_MS: int(100, 600_000).default(5_000),
  MAX_CONNECTIONS: int(1, 1_000_000).default(4096),
  DENO_CONNECTION_GUARD: z.enum(["on", "off"], { error: "must be on or off" }).default("on"),
  WS_INGEST_MAX_CONNECTIONS: int(1, 100_000).default(8),
  WS_INGEST_MAX_CONNECTIONS_PER_KEY: int(1, 100_000).default(2),
  IMPORT_MAX_RUNNING: int(1, 1000).default(4),
  IMPORT_MAX_RUNNING_PER_KEY: int(1, 1000).default(1),
  IMPORT_MAX_DURATION_MS: int(1000, 7 * DAY_MS).default(3_600_000),
  IMPORT_MIN_BYTES_PER_SEC: int(0, 1_000_000_000).default(1024),
  IDEMPOTENCY_TTL_HOURS: int(1, 24 * 365).default(24),
  LINE_PROTOCOL_DEVICE_TAGS: z.string().trim()
    .refine((v) => v.split(",").every((t) => /^[^\s,=\\]+$/.test(t.trim())), {
      error: "must be a comma list of tag names (no spaces, = or backslashes)",
    })
    .transform((v) => v.split(",").map((t) => t.trim()))
    .default(["device", "deviceId"]),
  LINE_PROTOCOL_MAX_LINE_LENGTH: int(256, 16 * 1024 * 1024).default(65_536),
  RATE_LIMIT_EVENTS_PER_SEC: int(1, 1_000_000_000).default(10_000),
  RATE_LIMIT_BURST: int(1, 1_000_000_000).default(20_000),
  SQLITE_CACHE_MB: int(1, 65536).default(128),
  SQLITE_WAL_AUTOCHECKPOINT_PAGES: int(100, 10_000_000).default(20_000),
  SQLITE_SYNCHRONOUS: z.enum(["normal", "full"], { error: "must be normal or full" }).default("normal"),
  STREAM_PROCESSING: z.enum(["on", "off"], { error: "must be on or off" }).default("on"),
  WINDOW_RESOLUTIONS: resolutionList.default([1000, 60_000, 3_600_000]),
  ALLOWED_LATENESS_MS: int(0, 3_600_000).default(5000),
  PARTITION_IDLE_MS: int(100, 3_600_000).default(5000),
  ROLLUP_FLUSH_MS: int(50, 60_000).default(1000),
  STREAM_MAX_SERIES: int(1, 100_000_000).default(20_000),
  STREAM_MAX_UNFLUSHED_DEVICES: int(100, 200_000_000).optional(),
  LIVE_UPDATE_MS: int(50, 60_000).default(250),
  METRICS_MAX_POINTS: int(10, 1_000_000).default(10_000),
  METRICS_MAX_SERIES: int(1, 100_000).default(1000),
  METRICS_MAX_RAW_EVENTS: int(1000, 100_000_000).default(1_000_000),
  METRICS_MAX_CELLS: int(1000, 1_000_000_000).default(20_000_000),
  METRICS_MAX_SCAN_BUCKETS: int(1000, 1_000_000_000).default(20_000_000),
  METRICS_MAX_ANSWER_BYTES: int(65_536, 2 ** 40).default(64 * 1024 * 1024),
  READ_RATE_PER_SEC: int(1, 1_000_000).default(100),
  READ_RATE_BURST: int(1, 1_000_000).default(200),
  READ_MAX_CONCURRENT_PER_KEY: int(1, 10_000).default(4),
  READ_MAX_CONCURRENT: int(1, 100_000).default(16),
  READ_TIMEOUT_MS: int(1000, 86_400_000).default(300_000),
  READ_WORKER: z.enum(["on", "off"], { error: "must be on or off" }).default("on"),
  ROLLUP_CACHE_MB: int(0, 65536).default(256),
  LIVE_QUEUE_LIMIT: int(10, 10_000_000).default(50_000),
  LIVE_REPLAY_LIMIT: int(0, 10_000_000).default(10_000),
  LIVE_MAX_SUBSCRIBERS: int(1, 1_000_000).default(1000),
  LIVE_MAX_SUBSCRIBERS_PER_KEY: int(1, 1_000_000).default(100),
  LIVE_HEARTBEAT_MS: int(100, 600_000).default(15_000),
  LIVE_COALESCE_MS: int(0, 1000).default(10),
  LIVE_MAX_BUFFERED_BYTES: int(16 * 1024, 1024 ** 3).default(2 * 1024 * 1024),
  LIVE_MAX_TOTAL_BUFFERED_BYTES: int(1024 * 1024, 64 * 1024 ** 3).default(256 * 1024 * 1024),
  LIVE_SEND_TIMEOUT_MS: int(100, 600_000).default(10_000),
  LIVE_KEY_CHECK_MS: int(50, 60_000).default(500),
  LIVE_CLOSE_GRACE_MS: int(0, 60_000).default(1000),
  METRICS_AUTH: z.enum(["none", "read"], { error: "must be none or read" }).default("none"),
  METRICS_INSTRUMENTATION: z.enum(["on", "off"], { error: "must be on or off" }).default("on"),
  ALERTS_EVAL_INTERVAL_MS: int(50, 60_000).default(1000),
  ALERTS_EVAL_SLICE_MS: int(0, 1000).default(10),
  ALERTS_EVAL_SLICE_CHANGES: int(1, 100_000).default(250),
  ALERTS_EVAL_WRITE_PAUSE_PCT: int(0, 1000).default(100),
  ALERTS_WEBHOOK_TIMEOUT_MS: int(100, 120_000).default(10_000),
  ALERTS_RETRY_BASE_MS: int(10, 3_600_000).default(1000),
  ALERTS_RETRY_MAX_MS: int(10, 86_400_000).default(300_000),
  ALERTS_MAX_ATTEMPTS: int(1, 1000).default(12),
  ALERTS_EXTERNAL_URL: z.string().trim().regex(/^https?:\/\/[^\s]+[^/\s]$/, {
    error: "must be an http(s) URL without a trailing slash",
  }).optional(),
  ALERTS_MAX_PAYLOAD_BYTES: int(1024, 16 * 1024 * 1024).default(1024 * 1024),
  ALERTS_WEBHOOK_ALLOWED_HOSTS: z.string().transform((v, ctx) => {
    const parsed = parseAllowedHosts(v);
    if (Array.isArray(parsed)) return parsed;
    ctx.addIssue({
      code: "custom",
      message: `must be a comma list of host, host:port or *.domain: ${parsed.error}`,
    });
    return z.NEVER;
  }).optional(),
  ALERTS_WEBHOOK_ALLOWED_NETWORKS: z.string().transform((v, ctx) => {
    const parsed = parseNetworks(v);
    if (Array.isArray(parsed)) return parsed;
    ctx.addIssue({ code: "custom", message: `must be a comma list of addresses or CIDRs: ${parsed.error}` });
    return z.NEVER;
  }).optional(),
  ALERTS_RETENTION_DAYS: int(1, 36500).default(30),
  ALERTS_MAX_RULES: int(1, 100_000).default(2000),
  ALERTS_MAX_RECEIVERS: int(1, 10_000).default(100),
  ALERTS_MAX_SILENCES: int(1, 100_000).default(1000),
  ALERTS_MAX_LABELS: int(1, 256).default(32),
  ALERTS_MAX_INSTANCES_PER_RULE: int(1, 1_000_000).default(1000),
  ALERTS_MAX_SERIES_PER_RULE: int(1, 1_000_000).default(10_000),
  ALERTS_MAX_ALERTS_PER_NOTIFICATION: int(1, 10_000).default(100),
  RETENTION_ROLLUP_MINUTE_DAYS: int(1, 36500).default(90),
  RETENTION_ROLLUP_HOUR_DAYS: int(1, 36500).default(730),
  RETENTION_CHECK_MS: int(1000, 86_400_000).default(600_000),
  EXPORT_DIR: z.string().trim().min(1, { error: "must not be empty" }).optional(),
  BACKUP_DIR: z.string().trim().min(1, { error: "must not be empty" }).default("./data/backups"),
  EXPORT_FORMAT: z.enum(["ndjson.gz", "parquet"], { error: "must be ndjson.gz or parquet" }).default(
    "ndjson.gz",
  ),
  ROLLUP_FLUSH_MAX_ATTEMPTS: int(1, 1_000_000).default(5),
  ROLLUP_REPLAY_BACKOFF_MS: int(1000, 86_400_000).default(60_000),
  ROLLUP_REPLAY_MAX_ATTEMPTS: int(0, 100).default(8),
});

/** Validates `env` (e.g. `Deno.env.toObject()` or `process.env`) into a `Config`. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const present = Object.fromEntries(
    Object.keys(schema.shape).map((k) => [k, env[k] === "" ? undefined : env[k]]),
  );
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue.path[0]);
    const got = env[name];
    const shown = name === "BOOTSTRAP_API_KEY"
      ? ""
      : got === undefined
      ? ""
      : ` (got ${JSON.stringify(got)})`;
    throw new ConfigError(`Invalid configuration: ${name} ${issue.message}${shown}`);
  }
  const e = parsed.data;
  if (e.MAX_EVENTS_PER_REQUEST > e.COMMIT_MAX_BATCH_EVENTS) {
    throw new ConfigError(
      `Invalid configuration: COMMIT_MAX_BATCH_EVENTS must be at least MAX_EVENTS_PER_REQUEST (${e.MAX_EVENTS_PER_REQUEST})`,
    );
  }
  if (e.RATE_LIMIT_BURST < e.MAX_EVENTS_PER_REQUEST) {
    throw new ConfigError(
      `Invalid configuration: RATE_LIMIT_BURST must be at least MAX_EVENTS_PER_REQUEST (${e.MAX_EVENTS_PER_REQUEST})`,
    );
  }
  if (e.LIVE_QUEUE_LIMIT < e.COMMIT_MAX_BATCH_EVENTS) {
    throw new ConfigError(
      `Invalid configuration: LIVE_QUEUE_LIMIT must be at least COMMIT_MAX_BATCH_EVENTS (${e.COMMIT_MAX_BATCH_EVENTS}), so that one commit alone never makes a subscriber lag`,
    );
  }
  if (e.LIVE_MAX_TOTAL_BUFFERED_BYTES < e.LIVE_MAX_BUFFERED_BYTES) {
    throw new ConfigError(
      `Invalid configuration: LIVE_MAX_TOTAL_BUFFERED_BYTES must be at least LIVE_MAX_BUFFERED_BYTES (${e.LIVE_MAX_BUFFERED_BYTES})`,
    );
  }
  for (const tier of ["RETENTION_ROLLUP_MINUTE_DAYS", "RETENTION_ROLLUP_HOUR_DAYS"] as const) {
    if (e[tier] < e.RETENTION_RAW_DAYS) {
      throw new ConfigError(
        `Invalid configuration: ${tier} must be at least RETENTION_RAW_DAYS (${e.RETENTION_RAW_DAYS}): rollups are computed from the raw events and must not expire before them`,
      );
    }
  }
  if (e.READ_MAX_CONCURRENT < e.READ_MAX_CONCURRENT_PER_KEY) {
    throw new ConfigError(
      `Invalid configuration: READ_MAX_CONCURRENT must be at least READ_MAX_CONCURRENT_PER_KEY (${e.READ_MAX_CONCURRENT_PER_KEY})`,
    );
  }
  if (e.COMMIT_QUEUE_MAX_EVENTS < e.MAX_EVENTS_PER_REQUEST) {
    throw new ConfigError(
      `Invalid configuration: COMMIT_QUEUE_MAX_EVENTS must be at least MAX_EVENTS_PER_REQUEST (${e.MAX_EVENTS_PER_REQUEST})`,
    );
  }
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    sqliteDriver: e.SQLITE_DRIVER,
    bootstrapApiKey: e.BOOTSTRAP_API_KEY,
    logLevel: e.LOG_LEVEL,
    partitions: e.PARTITIONS,
    eventLimits: {
      maxIdLength: e.MAX_ID_LENGTH,
      maxDeviceIdLength: e.MAX_DEVICE_ID_LENGTH,
      maxEventTypeLength: e.MAX_EVENT_TYPE_LENGTH,
      maxMetadataKeys: e.MAX_METADATA_KEYS,
      maxMetadataKeyLength: e.MAX_METADATA_KEY_LENGTH,
      maxMetadataValueLength: e.MAX_METADATA_VALUE_LENGTH,
      maxDataBytes: e.MAX_DATA_BYTES,
      maxDataDepth: e.MAX_DATA_DEPTH,
      maxFutureSkewMs: e.MAX_FUTURE_SKEW_MS,
      retentionMs: e.RETENTION_RAW_DAYS * DAY_MS,
    },
    requestLimits: { maxBodyBytes: e.MAX_BODY_BYTES, maxEventsPerRequest: e.MAX_EVENTS_PER_REQUEST },
    idempotencyTtlMs: e.IDEMPOTENCY_TTL_HOURS * 3_600_000,
    corsOrigins: e.CORS_ORIGINS === undefined
      ? null
      : e.CORS_ORIGINS === "*"
      ? "*"
      : e.CORS_ORIGINS.split(",").map((o) => o.trim()),
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    connections: {
      headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: e.MAX_CONNECTIONS,
      denoGuard: e.DENO_CONNECTION_GUARD === "on",
    },
    wsIngest: {
      maxConnections: e.WS_INGEST_MAX_CONNECTIONS,
      maxConnectionsPerKey: e.WS_INGEST_MAX_CONNECTIONS_PER_KEY,
    },
    imports: {
      maxRunning: e.IMPORT_MAX_RUNNING,
      maxRunningPerKey: e.IMPORT_MAX_RUNNING_PER_KEY,
      maxDurationMs: e.IMPORT_MAX_DURATION_MS,
      minBytesPerSecond: e.IMPORT_MIN_BYTES_PER_SEC,
    },
    lineProtocol: { deviceTags: e.LINE_PROTOCOL_DEVICE_TAGS, maxLineLength: e.LINE_PROTOCOL_MAX_LINE_LENGTH },
    rateLimit: { ratePerSecond: e.RATE_LIMIT_EVENTS_PER_SEC, burst: e.RATE_LIMIT_BURST },
    commit: {
      maxBatchEvents: e.COMMIT_MAX_BATCH_EVENTS,
      maxQueuedEvents: e.COMMIT_QUEUE_MAX_EVENTS,
      lingerMs: e.COMMIT_LINGER_MS,
      maxInFlight: e.COMMIT_MAX_IN_FLIGHT,
      writeFailureUnreadyMs: e.READYZ_WRITE_FAILURE_MS,
    },
    stream: {
      enabled: e.STREAM_PROCESSING === "on",
      resolutions: e.WINDOW_RESOLUTIONS,
      allowedLatenessMs: e.ALLOWED_LATENESS_MS,
      idleMs: e.PARTITION_IDLE_MS,
      flushMs: e.ROLLUP_FLUSH_MS,
      liveUpdateMs: e.LIVE_UPDATE_MS,
      flushMaxAttempts: e.ROLLUP_FLUSH_MAX_ATTEMPTS,
      replayBackoffMs: e.ROLLUP_REPLAY_BACKOFF_MS,
      replayMaxAttempts: e.ROLLUP_REPLAY_MAX_ATTEMPTS,
      maxSeries: e.STREAM_MAX_SERIES,
      // Twice the budget: a sweep of every tracked device between two flushes stays under it.
      maxUnflushedDevices: e.STREAM_MAX_UNFLUSHED_DEVICES ?? 2 * e.STREAM_MAX_SERIES,
    },
    retention: {
      rawMs: e.RETENTION_RAW_DAYS * DAY_MS,
      minuteRollupsMs: e.RETENTION_ROLLUP_MINUTE_DAYS * DAY_MS,
      hourRollupsMs: e.RETENTION_ROLLUP_HOUR_DAYS * DAY_MS,
      checkMs: e.RETENTION_CHECK_MS,
      exportDir: e.EXPORT_DIR ?? null,
      exportFormat: e.EXPORT_FORMAT,
    },
    backupDir: e.BACKUP_DIR,
    live: {
      queueLimit: e.LIVE_QUEUE_LIMIT,
      replayLimit: e.LIVE_REPLAY_LIMIT,
      maxSubscribers: e.LIVE_MAX_SUBSCRIBERS,
      maxSubscribersPerKey: e.LIVE_MAX_SUBSCRIBERS_PER_KEY,
      maxLags: 3,
      lagWindowMs: 60_000,
      heartbeatMs: e.LIVE_HEARTBEAT_MS,
      coalesceMs: e.LIVE_COALESCE_MS,
      maxBufferedBytes: e.LIVE_MAX_BUFFERED_BYTES,
      maxTotalBufferedBytes: e.LIVE_MAX_TOTAL_BUFFERED_BYTES,
      sendTimeoutMs: e.LIVE_SEND_TIMEOUT_MS,
      keyCheckMs: e.LIVE_KEY_CHECK_MS,
      closeGraceMs: e.LIVE_CLOSE_GRACE_MS,
    },
    metrics: {
      maxPoints: e.METRICS_MAX_POINTS,
      maxSeries: e.METRICS_MAX_SERIES,
      maxRawEvents: e.METRICS_MAX_RAW_EVENTS,
      maxCells: e.METRICS_MAX_CELLS,
      maxScanBuckets: e.METRICS_MAX_SCAN_BUCKETS,
      maxAnswerBytes: e.METRICS_MAX_ANSWER_BYTES,
    },
    reads: {
      ratePerSecond: e.READ_RATE_PER_SEC,
      burst: e.READ_RATE_BURST,
      maxConcurrentPerKey: e.READ_MAX_CONCURRENT_PER_KEY,
      maxConcurrent: e.READ_MAX_CONCURRENT,
      timeoutMs: e.READ_TIMEOUT_MS,
    },
    readWorker: e.READ_WORKER === "on",
    observability: {
      metricsAuth: e.METRICS_AUTH,
      instrumentation: e.METRICS_INSTRUMENTATION === "on",
    },
    alerts: {
      evalIntervalMs: e.ALERTS_EVAL_INTERVAL_MS,
      evalSliceMs: e.ALERTS_EVAL_SLICE_MS,
      evalSliceChanges: e.ALERTS_EVAL_SLICE_CHANGES,
      evalWritePausePct: e.ALERTS_EVAL_WRITE_PAUSE_PCT,
      webhookTimeoutMs: e.ALERTS_WEBHOOK_TIMEOUT_MS,
      retryBaseMs: e.ALERTS_RETRY_BASE_MS,
      retryMaxMs: Math.max(e.ALERTS_RETRY_MAX_MS, e.ALERTS_RETRY_BASE_MS),
      maxAttempts: e.ALERTS_MAX_ATTEMPTS,
      externalUrl: e.ALERTS_EXTERNAL_URL ?? null,
      maxPayloadBytes: e.ALERTS_MAX_PAYLOAD_BYTES,
      retentionMs: e.ALERTS_RETENTION_DAYS * DAY_MS,
      allowedHosts: e.ALERTS_WEBHOOK_ALLOWED_HOSTS ?? null,
      allowedNetworks: e.ALERTS_WEBHOOK_ALLOWED_NETWORKS ?? [],
      limits: {
        maxRules: e.ALERTS_MAX_RULES,
        maxReceivers: e.ALERTS_MAX_RECEIVERS,
        maxSilences: e.ALERTS_MAX_SILENCES,
        maxLabels: e.ALERTS_MAX_LABELS,
        maxInstancesPerRule: e.ALERTS_MAX_INSTANCES_PER_RULE,
        maxSeriesPerRule: e.ALERTS_MAX_SERIES_PER_RULE,
        maxAlertsPerNotification: e.ALERTS_MAX_ALERTS_PER_NOTIFICATION,
      },
    },
    sqlite: {
      cacheMb: e.SQLITE_CACHE_MB,
      walAutocheckpointPages: e.SQLITE_WAL_AUTOCHECKPOINT_PAGES,
      synchronous: e.SQLITE_SYNCHRONOUS,
      rollupCacheMb: e.ROLLUP_CACHE_MB,
    },
  };
}
