/**
 * The alerting subsystem, assembled: catalog, evaluator, notifier, delivery
 * and the admin service, over one `Store` and the metrics query service.
 * `start()` loads what the store holds and starts the timer; the server feeds
 * closed windows to `onWindow` and HTTP statuses to `countResponse`.
 */
import type { Clock } from "../clock.ts";
import { type AlertsConfig, STORED_MIN_RESOLUTION_MS } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { MetricsService } from "../metrics/metrics-query.ts";
import type { Store } from "../store/store.ts";
import type { AlertStore } from "../store/alert-store.ts";
import type { WindowMessage } from "../stream/windows.ts";
import { AlertService } from "./alert-service.ts";
import { AlertCatalog } from "./catalog.ts";
import { type AlertDataSource, metricsDataSource } from "./data-source.ts";
import { type DeliveryCounters, OutboxDelivery } from "./delivery.ts";
import { dryRun, type DryRunResult } from "./dry-run.ts";
import { AlertEvaluator } from "./evaluator.ts";
import type { AlertRule, AlertState, OutboxItem, OutboxStatus, Severity } from "./model.ts";
import { Notifier } from "./notifier.ts";
import { alertJson, liveAlertMessage } from "./render.ts";
import { SystemSampler } from "./system-sampler.ts";
import type { InputBounds } from "./validate-input.ts";
import type { WebhookClient } from "./webhook-client.ts";

/** Without a runtime client (tests that never deliver): every attempt fails, with this cause in the log. */
const NO_WEBHOOK_CLIENT: WebhookClient = {
  resolve: () => Promise.reject(new Error("no webhook client (PulseStreamOptions.webhookClient)")),
  post: () => Promise.reject(new Error("no webhook client (PulseStreamOptions.webhookClient)")),
};

export interface AlertingOptions {
  store: Store;
  metrics: MetricsService;
  clock: Clock;
  config: AlertsConfig;
  /** Stream resolutions, ascending. */
  resolutions: readonly number[];
  /** How long after its end a window has surely closed: allowed lateness + partition idle time, ms. */
  closeDelayMs: number;
  /** Most series one metrics query returns (METRICS_MAX_SERIES): a per-device rule reads pages of it. */
  maxSeries: number;
  bounds: Omit<InputBounds, "maxLabels" | "finestResolutionMs">;
  /** Base of the URLs in payloads when `config.externalUrl` is null. */
  defaultExternalUrl: string;
  /** Commit queue fill, 0–1 (the `overload` system metric). */
  queueFill: () => number;
  /** Live subscribers of the `alerts` channel. */
  publish: (message: unknown) => void;
  logger: Logger;
  /** Resolves receiver hosts and sends webhooks (absent: every attempt fails, logged). */
  webhookClient?: WebhookClient;
  random?: () => number;
  /** Where a notification that exhausted its attempts goes besides its `dead` outbox row. */
  onDeadNotification?: (item: OutboxItem) => Promise<unknown>;
}

/** What `metricsSnapshot()` returns, for the Prometheus exporter. */
export interface AlertingMetrics {
  /** Alert instances held, by state and severity (inactive ones are not held, so always 0). */
  alerts: Record<AlertState, Record<Severity, number>>;
  /** Delivery outcomes since start. */
  notifications: DeliveryCounters;
  /** Outbox items by status as last counted (at most one timer period old). */
  outbox: Record<OutboxStatus, number>;
  /** waiting + pending: notifications not yet delivered. */
  outboxDepth: number;
  /** The last evaluation round (epoch ms, duration ms, rules evaluated, queries run). */
  lastRound: { at: number; durationMs: number; rules: number; queries: number };
  rules: number;
  /** Rules whose last evaluation left series out (more devices than ALERTS_MAX_SERIES_PER_RULE). */
  rulesTruncated: number;
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}

export class Alerting {
  readonly catalog = new AlertCatalog();
  readonly sampler: SystemSampler;
  readonly notifier: Notifier;
  readonly evaluator: AlertEvaluator;
  readonly delivery: OutboxDelivery;
  readonly service: AlertService;
  readonly externalUrl: string;
  readonly dataSource: AlertDataSource;
  readonly resolutions: readonly number[];
  /** The smallest stored resolution: finer ones are live only (read from raw events). */
  readonly storedMinResolutionMs: number;
  readonly maxInstancesPerRule: number;
  /** The alert tables (outbox queries for operators). */
  readonly store: AlertStore;
  readonly #o: AlertingOptions;
  #timer: ReturnType<typeof setInterval> | null = null;
  #lastPurge = -Infinity;
  #ticking: Promise<void> | null = null;
  #outbox: Record<OutboxStatus, number> = { waiting: 0, pending: 0, sent: 0, dead: 0, skipped: 0 };

  constructor(options: AlertingOptions) {
    this.#o = options;
    const { config, store, clock, logger } = options;
    this.externalUrl = config.externalUrl ?? options.defaultExternalUrl;
    this.dataSource = metricsDataSource(options.metrics);
    this.resolutions = options.resolutions;
    this.storedMinResolutionMs = options.resolutions.find((r) => r >= STORED_MIN_RESOLUTION_MS) ??
      STORED_MIN_RESOLUTION_MS;
    this.maxInstancesPerRule = config.limits.maxInstancesPerRule;
    this.store = store.alerts;
    const warn = (message: string, fields: Record<string, unknown>) => logger.warn(message, fields);
    this.sampler = new SystemSampler(options.queueFill, FIELD_RETAIN_MS);
    this.notifier = new Notifier({
      catalog: this.catalog,
      store: store.alerts,
      externalURL: this.externalUrl,
      maxAlertsPerNotification: config.limits.maxAlertsPerNotification,
      maxPayloadBytes: config.maxPayloadBytes,
      newId: () => `ntf_${randomHex(16)}`,
    });
    this.evaluator = new AlertEvaluator({
      catalog: this.catalog,
      store: store.alerts,
      source: this.dataSource,
      system: this.sampler,
      notifier: this.notifier,
      clock,
      resolutions: options.resolutions,
      storedMinResolutionMs: this.storedMinResolutionMs,
      closeDelayMs: options.closeDelayMs + config.evalIntervalMs,
      maxInstancesPerRule: config.limits.maxInstancesPerRule,
      pageSize: options.maxSeries,
      maxSeriesPerRule: config.limits.maxSeriesPerRule,
      sliceMs: config.evalSliceMs,
      sliceChanges: config.evalSliceChanges,
      writePausePct: config.evalWritePausePct,
      onChange: (c) => {
        const rule = this.catalog.rules.get(c.instance.ruleId);
        const silenced = this.catalog.silencedBy(c.instance.labels, clock.now()) !== null;
        options.publish(liveAlertMessage(alertJson(c.instance, rule, silenced), c.from));
      },
      onError: warn,
    });
    this.delivery = new OutboxDelivery({
      store: store.alerts,
      catalog: this.catalog,
      clock,
      client: options.webhookClient ?? NO_WEBHOOK_CLIENT,
      timeoutMs: config.webhookTimeoutMs,
      retryBaseMs: config.retryBaseMs,
      retryMaxMs: config.retryMaxMs,
      maxAttempts: config.maxAttempts,
      concurrency: 8,
      perReceiver: 2,
      allowedHosts: config.allowedHosts,
      allowedNetworks: config.allowedNetworks,
      onDead: (item) => this.notifier.undelivered(item),
      random: options.random ?? Math.random,
      onError: warn,
      onDeadLetter: options.onDeadNotification,
    });
    this.service = new AlertService({
      catalog: this.catalog,
      store,
      evaluator: this.evaluator,
      clock,
      limits: config.limits,
      allowedHosts: config.allowedHosts,
      allowedNetworks: config.allowedNetworks,
      bounds: {
        ...options.bounds,
        maxLabels: config.limits.maxLabels,
        finestResolutionMs: options.resolutions[0],
      },
      newId: (prefix) => `${prefix}${randomHex(8)}`,
    });
  }

  /** Loads rules, receivers, silences, instances and the outbox, and starts the timer. */
  async start(): Promise<void> {
    const a = this.#o.store.alerts;
    for (const r of await a.listReceivers()) this.catalog.receivers.set(r.id, r);
    for (const s of await a.listSilences()) this.catalog.putSilence(s);
    for (const r of await a.listRules()) this.catalog.rules.set(r.id, r);
    for (const i of await a.loadAlertInstances()) this.catalog.putInstance(i);
    await this.notifier.load();
    for (const r of this.catalog.rules.values()) this.evaluator.setRule(r);
    this.#outbox = await a.outboxCounts();
    this.#timer = setInterval(() => void this.tick(), this.#o.config.evalIntervalMs);
  }

  /** One timer round: evaluation, group timers, delivery (rounds never overlap). */
  tick(): Promise<void> {
    if (this.#ticking) return this.#ticking;
    this.#ticking = (async () => {
      try {
        await this.evaluator.tick();
        await this.notifier.tick(this.#o.clock.now());
        await this.delivery.tick();
        const now = this.#o.clock.now();
        if (now - this.#lastPurge >= PURGE_INTERVAL_MS) {
          this.#lastPurge = now;
          await this.#o.store.alerts.purgeAlertRecords(now - this.#o.config.retentionMs);
        }
        this.#outbox = await this.#o.store.alerts.outboxCounts();
      } catch (error) {
        this.#o.logger.error("alerting timer failed", {
          error: error instanceof Error ? error.message : String(error),
        });
      } finally {
        this.#ticking = null;
      }
    })();
    return this.#ticking;
  }

  /** Replays `rule` over a past range from stored data (POST /v1/alerts/rules/dry-run). */
  dryRun(rule: AlertRule, range: { from: number; to: number }): Promise<DryRunResult> {
    return dryRun(rule, range, {
      source: this.dataSource,
      resolutions: this.resolutions,
      storedMinResolutionMs: this.storedMinResolutionMs,
      pageSize: this.#o.maxSeries,
      maxSeries: this.#o.config.limits.maxSeriesPerRule,
      maxInstances: this.maxInstancesPerRule,
    });
  }

  /** Bus subscriber for closed windows. */
  onWindow(message: WindowMessage): void {
    this.evaluator.onWindow(message);
  }

  /** Counts an HTTP response for the `error_rate` system metric. */
  countResponse(status: number): void {
    this.sampler.countResponse(status);
  }

  /**
   * Sends a notification that gave up (`dead`) again: its outbox item goes back to `pending`, due
   * now, with a fresh attempt budget and the same id and body (receivers dedup on the id). The
   * dead-letter replay of `notification` items calls this; the dead-letter service replays each
   * letter at most once.
   */
  async resendDeadNotification(item: OutboxItem): Promise<void> {
    const now = this.#o.clock.now();
    await this.store.updateOutbox({ ...item, status: "pending", attempts: 0, dueAt: now, updatedAt: now });
  }

  metricsSnapshot(): AlertingMetrics {
    const states: AlertState[] = ["inactive", "pending", "firing", "resolved"];
    const alerts = Object.fromEntries(
      states.map((s) => [s, { critical: 0, warning: 0, info: 0 }]),
    ) as AlertingMetrics["alerts"];
    for (const i of this.catalog.allInstances()) {
      const severity =
        (this.catalog.rules.get(i.ruleId)?.severity ?? i.labels.severity ?? "warning") as Severity;
      if (alerts[i.state][severity] !== undefined) alerts[i.state][severity]++;
    }
    return {
      alerts,
      notifications: { ...this.delivery.counters },
      outbox: { ...this.#outbox },
      outboxDepth: this.#outbox.waiting + this.#outbox.pending,
      lastRound: { ...this.evaluator.lastRound },
      rules: this.catalog.rules.size,
      rulesTruncated: this.evaluator.truncatedRules,
    };
  }

  /** Stops the timer, waits for the round, aborts deliveries in flight (they stay pending). */
  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.evaluator.close();
    await this.#ticking;
    await this.evaluator.idle();
    await this.delivery.close();
  }
}

/** How often history and finished notifications past the retention are deleted. */
const PURGE_INTERVAL_MS = 3_600_000;

/** System samples are kept for the longest rule window allowed. */
const FIELD_RETAIN_MS = 7 * 86_400_000;
