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
import { ApiKeyCache, keyProblem } from "./auth/key-cache.ts";
import type { Logger } from "./logger.ts";
import { createSqliteStore } from "./store/sqlite/sqlite-store.ts";
import type { ReadOffload, ReadOffloadFactory } from "./http/read-offload.ts";
import { registerReadWorkerCollectors } from "./observability/read-worker-collectors.ts";
import type { SqlDriver } from "./store/sqlite/sql-driver.ts";
import type { PayloadCodec } from "./store/sqlite/event-encoding.ts";
import type { Store } from "./store/store.ts";
import { STORED_MIN_RESOLUTION_MS } from "./config.ts";
import { MetricsService } from "./metrics/metrics-query.ts";
import { Bus } from "./stream/bus.ts";
import { type LiveMessage, StreamEngine } from "./stream/engine.ts";
import { SeriesBudget } from "./stream/series-budget.ts";
import { StreamService } from "./stream/stream-service.ts";
import { DeadLetterService } from "./storage/dead-letter-service.ts";
import { DeadLetterAutoReplay } from "./storage/auto-replay.ts";
import { type ColdStorage, RetentionService } from "./storage/retention-service.ts";
import { LiveHub } from "./realtime/live-hub.ts";
import type { RealtimeAdapter } from "./http/stream-routes.ts";
import type { CommitResult } from "./store/store.ts";
import type { EnrichedEvent, StoredEvent } from "../shared/event.ts";
import { Observability } from "./observability/observability.ts";
import { registerPulseCollectors } from "./observability/pulse-collectors.ts";
import { registerAlertCollectors } from "./observability/alert-collectors.ts";
import { registerDeadLetterCollectors } from "./observability/dead-letter-collectors.ts";
import { Alerting } from "./alerts/alerting.ts";
import type { WebhookClient } from "./alerts/webhook-client.ts";
import type { OutboxItem } from "./alerts/model.ts";
import { IngestCounters } from "./ingest/ingest-counters.ts";
import { StoreProbe } from "./realtime/store-probe.ts";
import type { DashboardFiles } from "./http/dashboard-routes.ts";
import { BackupService, type BackupTarget } from "./admin/backup-service.ts";
import { registerBackupCollectors } from "./observability/backup-collectors.ts";

/** How often expired Idempotency-Key records are deleted. */
const IDEMPOTENCY_PURGE_INTERVAL_MS = 10 * 60_000;

export interface PulseStream {
  app: Hono<AppEnv>;
  store: Store;
  committer: GroupCommitter;
  /** Stream processing (null when STREAM_PROCESSING=off). */
  stream: StreamService | null;
  engine: StreamEngine | null;
  /** Live output of the engine: window updates, closed windows, corrections. */
  bus: Bus<LiveMessage>;
  /** Fan-out to live subscribers (SSE, WebSocket). */
  hub: LiveHub;
  /** Metrics instruments; plug subsystems in with `observability.registry.collect(...)`. */
  observability: Observability;
  /** Alert evaluation and notification. */
  alerting: Alerting;
  /** The admin key created on first start, if one was. */
  initialKey: string | null;
  /** The dead-letter queue; `deadLetters.add` is the API for other producers (docs/STORAGE.md). */
  deadLetters: DeadLetterService;
  /** The retention job. */
  retention: RetentionService;
  /** Online backups (`POST /v1/admin/backup`). */
  backups: BackupService;
  /** Automatic replay of parked rollup flushes (null without stream processing). */
  autoReplay: DeadLetterAutoReplay | null;
  /** Commits what is queued, then closes the store. */
  close(): Promise<void>;
}

export interface PulseStreamOptions {
  driver: SqlDriver;
  /** Compresses large event payloads in the store (adapters/sqlite/zlib-payload-codec.ts); absent: none. */
  payloadCodec?: PayloadCodec;
  logger: Logger;
  clock?: Clock;
  /** The built dashboard served at `/` (see backend/adapters/dashboard-files.ts). */
  dashboard?: DashboardFiles | null;
  /** The client's address for audit entries (runtime-specific). */
  clientAddress?: (c: Context) => string | null;
  /**
   * Closes the request's connection at once, for a read past its deadline whose client does not
   * read (runtime-specific; absent where the runtime cannot, as with Deno.serve).
   */
  dropConnection?: (c: Context) => void;
  /** WebSockets of the runtime (absent: only SSE is served). */
  realtime?: RealtimeAdapter;
  /** Where the one-time initial key is printed (default: console.log). */
  print?: (line: string) => void;
  /** Where online backups are written (BACKUP_DIR; absent: the database is not a local file). */
  backupTarget?: BackupTarget;
  /** Where days leaving the raw tier are exported before they are dropped (EXPORT_DIR). */
  coldStorage?: ColdStorage;
  /** Whether the retention job runs on its timer (default true; tests call `runOnce`). */
  retentionTimer?: boolean;
  /** Whether parked rollup flushes are replayed on a timer (default true; tests call `runOnce`). */
  autoReplayTimer?: boolean;
  /** Resolves and calls webhook receivers (backend/adapters/webhook-client.ts; absent: none is called). */
  webhookClient?: WebhookClient;
  /** Starts the reader worker for heavy reads (backend/adapters/reader-worker/; absent: reads run here). */
  readOffload?: ReadOffloadFactory | null;
}

export async function createPulseStream(config: Config, options: PulseStreamOptions): Promise<PulseStream> {
  const clock = options.clock ?? systemClock;
  const { logger } = options;
  const store = await createSqliteStore({
    driver: options.driver,
    payloadCodec: options.payloadCodec,
    rollupCacheBytes: config.sqlite.rollupCacheMb * 2 ** 20,
  });
  const initialKey = await ensureStartupKeys(store, {
    bootstrapKey: config.bootstrapApiKey,
    clock,
    logger,
    print: options.print ?? ((line) => console.log(line)),
  });
  // Ingest commits re-check their keys, which is what lets ingestion read keys from a cache.
  const keyCache = new ApiKeyCache(store, clock);
  const committer = new GroupCommitter(
    store,
    {
      ...config.commit,
      maxInFlight: Math.min(config.commit.maxInFlight, store.maxCommitsInFlight),
    },
    undefined,
    {
      now: () => clock.now(),
      refusals: (ids) => keyCache.refusals(ids),
    },
  );
  const observability = new Observability({ enabled: config.observability.instrumentation, logger });
  let offload: ReadOffload | null = null;
  const bus = new Bus<LiveMessage>((error) =>
    logger.error("live subscriber failed", { error: String(error) })
  );
  const hub = new LiveHub({
    ...config.live,
    // Replay pages on the reader worker once it has started (it needs the stream service).
    readEventsAfter: (afterSeq, limit) =>
      offload?.available ? offload.eventsAfter(afterSeq, limit) : store.readEventsAfter(afterSeq, limit),
    now: () => clock.now(),
    keyProblem: async (keyId) => keyProblem(await store.getApiKey(keyId), clock.now())?.message ?? null,
    log: (message, fields) => logger.warn(message, fields),
    statsSnapshot: (): unknown => {
      void storeProbe.refresh(); // a new subscriber gets store figures by the next tick
      return systemStats();
    },
  });
  bus.subscribe((message) => hub.publishWindow(message));
  const resolutions = config.stream.resolutions;
  const storedResolutions = resolutions.filter((r) => r >= STORED_MIN_RESOLUTION_MS);
  let engine: StreamEngine | null = null;
  let stream: StreamService | null = null;
  if (config.stream.enabled) {
    const latencySink: { record(ms: number): void }[] = [];
    const budget = new SeriesBudget(config.stream.maxSeries);
    // The replay engine (dead-letter replays) has the live one's settings, without live output,
    // and the live one's series budget: a series a parked range holds is tracked if the live
    // engine tracks it, or admitted now if there is room (no event of its type was refused).
    const engineOptions = {
      partitions: config.partitions,
      resolutions,
      storedMinResolution: STORED_MIN_RESOLUTION_MS,
      allowedLatenessMs: config.stream.allowedLatenessMs,
      idleMs: config.stream.idleMs,
      clock,
    };
    engine = new StreamEngine({
      ...engineOptions,
      budget,
      publish: (message) => bus.publish(message),
      wantsUpdates: () => hub.wants("aggregates"),
      onLatency: (ms) => latencySink[0]?.record(ms),
    });
    stream = new StreamService(store, engine, clock, logger, {
      flushMaxAttempts: config.stream.flushMaxAttempts,
      replayEngine: () => new StreamEngine({ ...engineOptions, budget }),
      maxUnflushedDevices: config.stream.maxUnflushedDevices,
      flushMs: config.stream.flushMs,
      tickMs: config.stream.liveUpdateMs,
      allowedLatenessMs: config.stream.allowedLatenessMs,
      idleMs: config.stream.idleMs,
      storedResolutions,
      liveResolution: resolutions[0] < STORED_MIN_RESOLUTION_MS ? resolutions[0] : null,
    });
    latencySink.push(stream.latency);
    await stream.start();
  }
  const service = stream;
  const ingestCounters = new IngestCounters(observability.registry);
  const deadLetters = new DeadLetterService(store, clock, logger);
  if (service) {
    deadLetters.register("rollup-flush", (letter) => service.replayDeadLetter(letter));
    deadLetters.register("event", (letter) => service.replayDeadLetter(letter));
  }
  const retention = new RetentionService(store, clock, logger, {
    ...config.retention,
    guardRollups: stream !== null,
    dropMarginMs: 60_000 + config.requestTimeoutMs,
    storedResolutions,
    cold: options.coldStorage
      ? { storage: options.coldStorage, format: config.retention.exportFormat }
      : null,
  });
  if (options.retentionTimer !== false) retention.start();
  const autoReplay = service
    ? new DeadLetterAutoReplay(deadLetters, store.deadLetters, clock, logger, {
      kinds: ["rollup-flush"],
      backoffMs: config.stream.replayBackoffMs,
      maxAttempts: config.stream.replayMaxAttempts,
    })
    : null;
  if (options.autoReplayTimer !== false) autoReplay?.start();
  committer.observe({
    onCommit: (info) => observability.onCommit(info),
    busy: () => service?.behind() ?? false,
    onCommitted: (events, result) => {
      try {
        service?.onCommitted(events, result);
      } catch (error) {
        logger.error("stream engine failed to take committed events", { error: String(error) });
      }
      hub.publishEvents(acceptedEvents(events, result));
    },
    onCommitUncertain: () => service?.halt("a commit's outcome could not be read back"),
  });
  const startedAt = clock.now();
  const storeProbe = new StoreProbe(store);
  const stats = setInterval(() => {
    if (!hub.wants("stats")) return;
    void storeProbe.refresh();
    hub.publishTo("stats", systemStats());
  }, 1000);
  const systemStats = () => ({
    type: "stats",
    at: new Date(clock.now()).toISOString(),
    uptimeSeconds: Math.round((clock.now() - startedAt) / 1000),
    queuedEvents: committer.queuedEvents,
    subscribers: hub.size,
    delivered: hub.counters.delivered,
    lagged: hub.counters.lagged,
    lastSeq: hub.lastSeq,
    memory: processMemory(),
    stream: stream?.health() ?? null,
    // Read from the registry, as /metrics is (null with METRICS_INSTRUMENTATION=off).
    ingest: ingestCounters.read(),
    ...storeProbe.snapshot(),
  });
  const reader = stream ?? { consistentRead: <T>(read: (e: null) => Promise<T>) => read(null) };
  const metrics = new MetricsService(store, reader, storedResolutions, config.metrics);
  offload = options.readOffload
    ? await options.readOffload({ reader, storedResolutions, limits: config.metrics, logger })
    : null;
  const idempotency = new IdempotencyGuard(store, clock, config.idempotencyTtlMs);
  const alerting = new Alerting({
    store,
    metrics,
    clock,
    config: config.alerts,
    resolutions,
    closeDelayMs: config.stream.allowedLatenessMs + config.stream.idleMs,
    maxSeries: config.metrics.maxSeries,
    bounds: {
      maxEventTypeLength: config.eventLimits.maxEventTypeLength,
      maxDeviceIdLength: config.eventLimits.maxDeviceIdLength,
    },
    defaultExternalUrl: `http://${config.host}:${config.port}`,
    queueFill: () => committer.queuedEvents / config.commit.maxQueuedEvents,
    publish: (message) => hub.publishTo("alerts", message),
    logger,
    webhookClient: options.webhookClient,
    onDeadNotification: (item) =>
      deadLetters.add({
        kind: "notification",
        payload: item,
        reason: item.lastError ?? "gave up",
        attempts: item.attempts,
      }),
  });
  deadLetters.register(
    "notification",
    (letter) => alerting.resendDeadNotification(letter.payload as OutboxItem),
  );
  bus.subscribe((message) => alerting.onWindow(message));
  await alerting.start();
  const purge = setInterval(() => {
    idempotency.purgeExpired().then(
      (n) => n > 0 && logger.info("expired idempotency records purged", { count: n }),
      (error) => logger.warn("idempotency purge failed", { error: String(error) }),
    );
  }, IDEMPOTENCY_PURGE_INTERVAL_MS);
  registerPulseCollectors(observability.registry, {
    committer,
    maxQueuedEvents: config.commit.maxQueuedEvents,
    engine,
    latency: stream?.latency ?? null,
    hub,
    store,
    clock,
    startedAt,
    version: VERSION,
  });
  registerAlertCollectors(observability.registry, () => alerting.metricsSnapshot());
  registerDeadLetterCollectors(observability.registry, () => deadLetters.counts());
  observability.start({ saturated: () => committer.saturated, queuedEvents: () => committer.queuedEvents });
  const backups = new BackupService({ target: options.backupTarget ?? null, store, clock, logger });
  if (offload) registerReadWorkerCollectors(observability.registry, offload);
  registerBackupCollectors(observability.registry, () => ({
    counts: backups.counts,
    running: backups.running !== null,
  }));
  const app = createApp({
    backups,
    observability,
    idempotency,
    keyCache,
    metrics,
    offload,
    engine,
    hub,
    realtime: options.realtime ?? null,
    streamHealth: () => stream?.health() ?? null,
    store,
    committer,
    clock,
    config,
    logger,
    dashboard: options.dashboard,
    clientAddress: options.clientAddress,
    dropConnection: options.dropConnection,
    alerting,
    startedAt: clock.now(),
    version: VERSION,
    storage: { deadLetters, retentionJob: retention, retention: config.retention, storedResolutions },
  });
  return {
    app,
    store,
    committer,
    stream,
    engine,
    bus,
    hub,
    observability,
    alerting,
    initialKey,
    deadLetters,
    retention,
    backups,
    autoReplay,
    async close() {
      observability.close();
      await offload?.close();
      clearInterval(purge);
      await alerting.close();
      await retention.close();
      await autoReplay?.close();
      clearInterval(stats);
      hub.closeAll("server shutting down");
      idempotency.close();
      await committer.close();
      await stream?.close();
      await store.close();
    },
  };
}

/** The accepted events of a commit, with their seqs. */
function acceptedEvents(events: readonly EnrichedEvent[], result: CommitResult): StoredEvent[] {
  const out: StoredEvent[] = [];
  for (let i = 0; i < events.length; i++) {
    if (result.outcomes[i] === "accepted") out.push({ ...events[i], seq: result.firstSeq + i });
  }
  return out;
}

/** Resident and heap memory, bytes, where the runtime tells. */
function processMemory(): { rss: number; heapUsed: number } | null {
  const p = (globalThis as { process?: { memoryUsage?: () => { rss: number; heapUsed: number } } }).process;
  const m = p?.memoryUsage?.();
  return m ? { rss: m.rss, heapUsed: m.heapUsed } : null;
}
