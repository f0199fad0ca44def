/**
 * The Hono application, built from its dependencies. Nothing here touches a
 * runtime API: the same app is served by Deno (`main.tsx`), Node
 * (`backend/adapters/node/main.ts`) or driven in tests through `app.request()`.
 */
import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import { ApiKeyHasher } from "./auth/api-keys.ts";
import { KeyUsageRecorder } from "./auth/key-usage.ts";
import type { ApiKeyCache } from "./auth/key-cache.ts";
import { adminRoutes } from "./http/admin-routes.ts";
import { backupRoutes } from "./http/backup-routes.ts";
import type { BackupService } from "./admin/backup-service.ts";
import { exportRoutes, storageAdminRoutes, type StorageRoutesDeps } from "./http/storage-routes.ts";
import { RateLimiter } from "./ingest/rate-limiter.ts";
import { ReadGate } from "./reads/read-gate.ts";
import type { IdempotencyGuard } from "./ingest/idempotency.ts";
import { createEventValidator } from "../shared/event-schema.ts";
import type { Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import { NotFoundError } from "./errors.ts";
import type { AppEnv } from "./http/app-env.ts";
import { errorResponse } from "./http/error-handler.ts";
import { eventsRoutes, type EventsRoutesDeps } from "./http/events-routes.ts";
import { ingestWsRoutes } from "./http/ingest-ws.ts";
import { influxRoutes } from "./http/influx-routes.ts";
import { IngestSockets } from "./http/ingest-ws-sockets.ts";
import { registerHeldGauge } from "./observability/connection-collectors.ts";
import { importRoutes } from "./http/import-routes.ts";
import { healthRoutes } from "./http/health-routes.ts";
import { requestLog } from "./http/request-log.ts";
import type { GroupCommitter } from "./ingest/group-committer.ts";
import type { Logger } from "./logger.ts";
import type { Store } from "./store/store.ts";
import { metricsRoutes } from "./http/metrics-routes.ts";
import type { MetricsService } from "./metrics/metrics-query.ts";
import type { StreamEngine } from "./stream/engine.ts";
import type { LiveHub } from "./realtime/live-hub.ts";
import { type RealtimeAdapter, streamRoutes } from "./http/stream-routes.ts";
import { Observability } from "./observability/observability.ts";
import { prometheusRoutes } from "./http/prometheus-routes.ts";
import type { ReadinessCheck } from "./http/health-routes.ts";
import { alertRoutes } from "./http/alert-routes.ts";
import type { Alerting } from "./alerts/alerting.ts";
import { type DashboardFiles, dashboardRoutes } from "./http/dashboard-routes.ts";
import { authRoutes } from "./http/auth-routes.ts";
import type { ReadOffload } from "./http/read-offload.ts";

export interface AppDeps {
  store: Store;
  committer: GroupCommitter;
  clock: Clock;
  config: Pick<
    Config,
    | "eventLimits"
    | "requestLimits"
    | "partitions"
    | "rateLimit"
    | "corsOrigins"
    | "requestTimeoutMs"
    | "imports"
    | "lineProtocol"
    | "wsIngest"
    | "metrics"
    | "reads"
    | "live"
    | "observability"
    | "commit"
  >;
  idempotency: IdempotencyGuard;
  /**
   * Key records for ingestion; give it only when the group committer checks keys at commit
   * (`CommitKeyCheck`, as `createPulseStream` wires it), else revocation would wait for its TTL.
   */
  keyCache?: ApiKeyCache;
  metrics: MetricsService;
  /** Runs heavy reads off the ingest thread (reader worker); null or absent: they run here. */
  offload?: ReadOffload | null;
  /** The stream engine, for live snapshots; null when stream processing is off. */
  engine: StreamEngine | null;
  /** Fan-out to live subscribers. */
  hub: LiveHub;
  /** WebSockets of the runtime, or null (SSE only). */
  realtime: RealtimeAdapter | null;
  /** Stream-processing figures for /health. */
  streamHealth?: () => Record<string, unknown> | null;
  logger: Logger;
  /** The built dashboard (index.html and hashed assets) served at `/`; absent: `/` answers 404. */
  dashboard?: DashboardFiles | null;
  /** The client's address for audit entries; runtime adapters know where to find it. */
  clientAddress?: (c: Context) => string | null;
  /** Process start, epoch ms. */
  startedAt?: number;
  version?: string;
  /** Instruments and the /metrics registry (absent: a disabled one, no /metrics). */
  observability?: Observability;
  /** Readiness checks of other subsystems, added to /readyz. */
  readinessChecks?: readonly ReadinessCheck[];
  /** Closes a request's connection (reads past their deadline); absent: the runtime cannot. */
  dropConnection?: (c: Context) => void;
  /** Admission of reads (absent: one built from `config.reads`). */
  readGate?: ReadGate;
  /** Alert rules, silences, receivers and notifications (absent: no /v1/alerts routes). */
  alerting?: Alerting;
  /** Online backups (absent: `POST /v1/admin/backup` is not served). */
  backups?: BackupService;
  /** Export, storage report and dead letters (absent: those routes are not served). */
  storage?: Pick<StorageRoutesDeps, "deadLetters" | "retentionJob" | "retention" | "storedResolutions">;
}

export const VERSION = "0.1.0";

/** Frames a WebSocket ingestion connection may have in processing at once. */
const WS_INGEST_MAX_IN_FLIGHT = 16;

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { store, clock, logger, config } = deps;

  const obs = deps.observability ?? new Observability({ enabled: false, logger });
  const alerting = deps.alerting;
  app.use(
    "*",
    requestLog(logger, [
      ...(obs.enabled ? [obs.requests] : []),
      // Responses by status, for the alerting error rate.
      ...(alerting
        ? [{
          started() {},
          finished: (_m: string, _r: string, status: number) => alerting.countResponse(status),
        }]
        : []),
    ]),
  );
  // No CORS headers unless configured: browsers then allow only the dashboard's own origin.
  if (config.corsOrigins !== null) {
    app.use(
      "/v1/*",
      cors({
        origin: config.corsOrigins,
        allowHeaders: [
          "content-type",
          "content-encoding",
          "x-api-key",
          "authorization",
          "idempotency-key",
          "x-request-id",
          "import-id",
        ],
        allowMethods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        exposeHeaders: [
          "x-request-id",
          "retry-after",
          "ratelimit-limit",
          "ratelimit-remaining",
          "ratelimit-reset",
          "idempotent-replayed",
          "import-id",
        ],
        maxAge: 600,
      }),
    );
  }
  app.onError((error, c) => errorResponse(error, c, logger));
  app.notFound((c) =>
    errorResponse(new NotFoundError(`No route for ${c.req.method} ${c.req.path}`), c, logger)
  );

  app.route(
    "/",
    healthRoutes({
      store,
      committer: deps.committer,
      clock,
      startedAt: deps.startedAt ?? clock.now(),
      version: deps.version ?? VERSION,
      stream: deps.streamHealth,
      live: () => ({ subscribers: deps.hub.size, ...deps.hub.counters }),
      checks: deps.readinessChecks,
      writeFailureMs: config.commit.writeFailureUnreadyMs,
      logger,
    }),
  );
  const auth = {
    store,
    clock,
    hasher: new ApiKeyHasher(),
    usage: new KeyUsageRecorder(store, logger),
    cache: deps.keyCache,
  };
  app.route(
    "/v1/admin",
    adminRoutes({ auth, store, clock, clientAddress: deps.clientAddress ?? (() => null) }),
  );
  if (deps.backups) {
    app.route(
      "/v1/admin",
      backupRoutes({ auth, backups: deps.backups, clientAddress: deps.clientAddress ?? (() => null) }),
    );
  }
  // One limiter: HTTP, WebSocket and import ingestion draw on the same bucket per key.
  const limiter = new RateLimiter(clock);
  // One gate for every read route: a key's read rate and heavy-read slots are shared among them.
  const reads = {
    gate: deps.readGate ?? new ReadGate(clock, config.reads),
    logger,
    dropConnection: deps.dropConnection,
  };
  const eventsDeps: EventsRoutesDeps = {
    auth,
    limiter,
    requestTimeoutMs: config.requestTimeoutMs,
    reads,
    idempotency: deps.idempotency,
    defaultRateLimit: config.rateLimit,
    store,
    clock,
    eventLimits: config.eventLimits,
    requestLimits: config.requestLimits,
    ingest: {
      validator: createEventValidator(config.eventLimits),
      committer: deps.committer,
      clock,
      partitions: config.partitions,
      outcomes: obs.ingest.http,
    },
  };
  app.route("/v1/events", eventsRoutes(eventsDeps));
  // InfluxDB 2 and 1 write paths (line protocol), at the paths their clients use.
  app.route("/", influxRoutes({ events: eventsDeps, lineProtocol: config.lineProtocol }));
  if (deps.storage) {
    const storageDeps: StorageRoutesDeps = {
      ...deps.storage,
      auth,
      reads,
      offload: deps.offload,
      store,
      clock,
      logger,
      maxNameLength: Math.max(config.eventLimits.maxDeviceIdLength, config.eventLimits.maxEventTypeLength),
    };
    app.route("/v1/export", exportRoutes(storageDeps));
    app.route("/v1/admin", storageAdminRoutes(storageDeps));
  }
  app.route(
    "/v1/import",
    importRoutes({
      auth,
      store,
      committer: deps.committer,
      clock,
      logger,
      limiter,
      defaultRateLimit: config.rateLimit,
      eventLimits: config.eventLimits,
      requestLimits: config.requestLimits,
      partitions: config.partitions,
      requestTimeoutMs: config.requestTimeoutMs,
      limits: config.imports,
      outcomes: obs.ingest.import,
      registry: obs.registry,
    }),
  );
  const ingestSockets = new IngestSockets({ store, clock, logger, limits: config.wsIngest });
  registerHeldGauge(obs.registry, {
    name: "pulsestream_ingest_websockets",
    help: "Open ingest WebSockets, GET /v1/ingest (at most WS_INGEST_MAX_CONNECTIONS).",
  }, () => ingestSockets.size);
  app.route(
    "/v1/ingest",
    ingestWsRoutes({
      events: { ...eventsDeps, ingest: { ...eventsDeps.ingest, outcomes: obs.ingest.websocket } },
      realtime: deps.realtime,
      maxInFlight: WS_INGEST_MAX_IN_FLIGHT,
      heartbeatMs: config.live.heartbeatMs,
      sockets: ingestSockets,
      logger,
    }),
  );

  app.route(
    "/v1/metrics",
    metricsRoutes({
      auth,
      clock,
      metrics: deps.metrics,
      engine: deps.engine,
      maxSeries: config.metrics.maxSeries,
      maxNameLength: Math.max(config.eventLimits.maxDeviceIdLength, config.eventLimits.maxEventTypeLength),
      maxAnswerBytes: config.metrics.maxAnswerBytes,
      logger,
      reads,
      offload: deps.offload,
    }),
  );

  app.route(
    "/v1/stream",
    streamRoutes({
      auth,
      hub: deps.hub,
      realtime: deps.realtime,
      heartbeatMs: config.live.heartbeatMs,
      maxNameLength: Math.max(config.eventLimits.maxDeviceIdLength, config.eventLimits.maxEventTypeLength),
      closeGraceMs: config.live.closeGraceMs,
    }),
  );

  if (obs.enabled) {
    app.route(
      "/",
      prometheusRoutes({ registry: obs.registry, auth, metricsAuth: config.observability.metricsAuth }),
    );
  }
  if (deps.alerting) {
    app.route(
      "/v1/alerts",
      alertRoutes({
        auth,
        alerting: deps.alerting,
        clock,
        clientAddress: deps.clientAddress ?? (() => null),
      }),
    );
  }

  app.route("/v1/auth", authRoutes({ auth }));
  app.route("/", dashboardRoutes(deps.dashboard ?? null));

  return app;
}
