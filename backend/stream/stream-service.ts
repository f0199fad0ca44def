/**
 * Runs the stream engine inside the server: feeds it every commit, ticks it,
 * flushes its rollup deltas to the store with the checkpoint, and rebuilds it
 * at start.
 *
 * Exactly once: a flush writes the merged buckets, the series totals and the
 * checkpoint (the highest seq folded in) in one transaction. Events with a seq
 * above the checkpoint are not in the rollups yet; at start they are replayed
 * from the events table into the engine, and nothing at or below it is folded
 * again. A SIGKILL at any moment therefore neither loses nor double-counts.
 */
import type { Clock } from "../clock.ts";
import type { EnrichedEvent } from "../../shared/event.ts";
import type { Logger } from "../logger.ts";
import type { CommitResult, Store } from "../store/store.ts";
import type { DeadLetter } from "../store/storage-store.ts";
import type { EngineEvent, LiveMessage, StreamEngine } from "./engine.ts";
import { FedLog } from "./fed-log.ts";
import { FlushBacklog } from "./flush-backlog.ts";
import { LatencyHistogram } from "./latency.ts";
import {
  eventLetterSeqs,
  foldDeadLetter,
  parkUndecodable,
  reasonOf,
  REPLAY_PAGE,
  type RollupRangePayload,
} from "./stream-dead-letters.ts";
import { seriesCounts } from "./series-budget.ts";

export { type RollupRangePayload, undecodable } from "./stream-dead-letters.ts";

export interface StreamServiceOptions {
  /** How often deltas are written to the store, ms. */
  flushMs: number;
  /** How often watermarks advance and live updates go out, ms. */
  tickMs: number;
  allowedLatenessMs: number;
  idleMs: number;
  /** Resolutions kept in the store. */
  storedResolutions: readonly number[];
  /** The finest (live-only) resolution, rebuilt from raw events at start; null if all are stored. */
  liveResolution: number | null;
  /**
   * Consecutive failed flushes after which the pending work is parked in the dead letters
   * (`rollup-flush`, the seq range it covers) instead of being retried forever; default: never.
   */
  flushMaxAttempts?: number;
  /** A new engine with the live one's settings, to fold a dead-lettered seq range again on replay. */
  replayEngine?: () => StreamEngine;
  /**
   * Most tracked devices that opened new per-device state since the last applied flush took its
   * deltas (`STREAM_MAX_UNFLUSHED_DEVICES`): from half of it a flush starts at once; beyond it
   * `behind()` is true (ingestion answers 503). Default: unbounded.
   */
  maxUnflushedDevices?: number;
}

/** Most raw events read to rebuild the open live-only windows at start. */
const SEED_LIMIT = 200_000;

export class StreamService {
  readonly latency = new LatencyHistogram();
  #flushTimer: ReturnType<typeof setInterval> | null = null;
  #tickTimer: ReturnType<typeof setInterval> | null = null;
  #flushing: Promise<void> | null = null;
  /** The flush queued behind the one in flight. */
  #nextFlush: Promise<void> | null = null;
  #flushFailures = 0;
  #failedInARow = 0;
  #replayed = 0;
  #readers = 0;
  #checkpoint = 0;
  /** Set when the engine failed mid-ingest: flushing stops so the checkpoint stays safe. */
  #halted = false;
  #flushes = { count: 0, totalMs: 0, maxMs: 0, lastMs: 0, lastBuckets: 0 };
  #readersIdle: (() => void)[] = [];
  /** Events fed to the engine above the checkpoint, to count what a parked range stands for. */
  readonly #fed = new FedLog();
  readonly #backlog: FlushBacklog;

  constructor(
    private readonly store: Store,
    private readonly engine: StreamEngine,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: StreamServiceOptions,
  ) {
    this.#backlog = new FlushBacklog(engine, logger, options.maxUnflushedDevices ?? Infinity);
  }

  /** Events replayed from the store at start. */
  get replayedEvents(): number {
    return this.#replayed;
  }

  /** Flushes that failed since start (each is retried with the next). */
  get flushFailures(): number {
    return this.#flushFailures;
  }

  /**
   * Rebuilds the engine from the store: open stored windows, the live-only windows of the last
   * seconds, then every committed event not yet in the rollups. Call before taking traffic.
   */
  async start(): Promise<void> {
    const checkpoint = await this.store.rollupCheckpoint();
    this.#checkpoint = checkpoint;
    this.engine.restoreCheckpoint(checkpoint);
    // The series catalogue is written in the flushes' transactions: it is the budget as of the checkpoint.
    this.engine.restoreSeries(await seriesCounts(this.store));
    const now = this.clock.now();
    const horizon = now - this.options.allowedLatenessMs - this.options.idleMs;
    for (const row of await this.store.readRollupsEndingAfter(horizon, this.options.storedResolutions)) {
      this.engine.restoreWindow(row);
    }
    if (this.options.liveResolution !== null) {
      // Live-only windows are not stored: rebuild the open ones from the raw events they hold.
      const from = horizon - this.options.liveResolution;
      const recent = await this.store.eventPointsSince(from, SEED_LIMIT);
      this.engine.seedLive(recent.filter((e) => e.seq <= checkpoint));
    }
    // Events above the checkpoint that a dead letter already stands for are not folded here.
    const parked = await eventLetterSeqs(this.store, checkpoint);
    let after = checkpoint;
    for (;;) {
      const page = await this.store.eventsAfter(after, REPLAY_PAGE);
      if (page.length === 0) break;
      const fed = await parkUndecodable(page, parked, {
        store: this.store,
        clock: this.clock,
        logger: this.logger,
      });
      this.engine.ingest(fed, true);
      after = page[page.length - 1].seq;
      this.#fed.note(after, fed.length);
      // The checkpoint may pass events that went to the dead letters.
      this.engine.restoreCheckpoint(after);
      this.#replayed += page.length;
    }
    if (this.#replayed > 0) {
      this.logger.info("stream engine replayed events committed after the last rollup flush", {
        events: this.#replayed,
        checkpoint,
      });
    }
    this.engine.tick();
    this.#tickTimer = setInterval(() => this.tick(), this.options.tickMs);
    // A timer flush skips while one is in flight (explicit callers queue behind it instead).
    this.#flushTimer = setInterval(() => void (this.#flushing ?? this.flush()), this.options.flushMs);
  }

  /**
   * Feeds the accepted events of one commit to the engine (the committer's observer). Starts a
   * flush at once when half of `maxUnflushedDevices` wait for one (flush-backlog.ts).
   */
  onCommitted(events: readonly EnrichedEvent[], result: CommitResult): void {
    const accepted: EngineEvent[] = [];
    for (let i = 0; i < events.length; i++) {
      if (result.outcomes[i] !== "accepted") continue;
      const e = events[i];
      accepted.push({
        seq: result.firstSeq + i,
        deviceId: e.deviceId,
        eventType: e.eventType,
        value: e.value,
        timestamp: e.timestamp,
        receivedAt: e.receivedAt,
        partition: e.partition,
      });
    }
    if (accepted.length === 0) return;
    try {
      this.engine.ingest(accepted);
      this.#fed.note(accepted[accepted.length - 1].seq, accepted.length);
      // Due while one is in flight: the next is queued behind it (shared by every later caller).
      if (this.#backlog.due() && !this.#nextFlush && !this.#halted) void this.flush().catch(() => {});
    } catch (error) {
      // Some of these events may be folded and others not: stop flushing so the checkpoint never
      // passes them; a restart replays everything after the last good checkpoint.
      this.#halted = true;
      this.logger.error("stream engine failed; rollup flushes stop until restart", { error: String(error) });
      throw error;
    }
  }

  /**
   * Whether the engine holds more unflushed per-device state than `maxUnflushedDevices` allows:
   * ingestion is refused (503) meanwhile, and a flush is started if none runs (one already starts
   * at half the bound, after the commit that reaches it). Each episode is logged once.
   */
  behind(): boolean {
    const behind = this.#backlog.behind();
    if ((behind || this.#backlog.due()) && !this.#flushing && !this.#halted) {
      void this.flush().catch(() => {});
    }
    return behind;
  }

  /**
   * Stops rollup flushes until a restart, whose replay from the last checkpoint then folds what
   * this process could not (committed events whose outcome it does not know).
   */
  halt(reason: string): void {
    if (!this.#halted) this.logger.error(`${reason}; rollup flushes stop until restart`);
    this.#halted = true;
  }

  /** Figures for /health (and, later, /metrics). */
  health(): Record<string, unknown> {
    const latency = this.latency.snapshot();
    const now = this.clock.now();
    const watermarks = this.engine.watermarks();
    return {
      processedEvents: this.engine.processedEvents,
      lateEvents: this.engine.lateEvents,
      replayedEvents: this.#replayed,
      flushFailures: this.#flushFailures,
      halted: this.#halted,
      checkpoint: this.#checkpoint,
      flushes: {
        count: this.#flushes.count,
        meanMs: this.#flushes.count ? round(this.#flushes.totalMs / this.#flushes.count) : null,
        maxMs: round(this.#flushes.maxMs),
        lastMs: round(this.#flushes.lastMs),
        lastBuckets: this.#flushes.lastBuckets,
      },
      series: this.engine.seriesFigures(),
      watermarkLagMs: watermarks.map((w) => (Number.isFinite(w) ? now - w : null)),
      receiveToAggregateMs: {
        count: latency.count,
        p50: latency.p50,
        p95: latency.p95,
        p99: latency.p99,
      },
    };
  }

  tick(): void {
    try {
      this.engine.tick();
    } catch (error) {
      this.logger.error("stream engine tick failed", { error: String(error) });
    }
  }

  /**
   * Writes the folded deltas and the checkpoint; one flush at a time, never during a consistent read.
   * Resolves once everything folded before the call is flushed: a flush already in flight may have
   * taken its deltas before the caller's events, so the caller waits for the one after it (shared
   * by every caller that arrives meanwhile).
   */
  flush(): Promise<void> {
    if (this.#flushing) {
      const after = () => {
        this.#nextFlush = null;
        return this.flush();
      };
      this.#nextFlush ??= this.#flushing.then(after, after);
      return this.#nextFlush;
    }
    this.#flushing = (async () => {
      await this.#readersGone();
      await this.#flushOnce();
    })().finally(() => (this.#flushing = null));
    return this.#flushing;
  }

  /** Resolves once no consistent read runs. */
  async #readersGone(): Promise<void> {
    while (this.#readers > 0) await new Promise<void>((resolve) => this.#readersIdle.push(resolve));
  }

  /**
   * Runs `read` while no flush is in flight, so that what the store holds plus the engine's
   * unflushed deltas is every committed event exactly once.
   */
  async consistentRead<T>(read: (engine: StreamEngine) => Promise<T>): Promise<T> {
    while (this.#flushing) await this.#flushing;
    this.#readers++;
    try {
      return await read(this.engine);
    } finally {
      if (--this.#readers === 0) { for (const wake of this.#readersIdle.splice(0)) wake(); }
    }
  }

  async #flushOnce(): Promise<void> {
    if (this.#halted) return;
    const cellsAtTake = this.#backlog.taking();
    const taken = this.engine.takeFlush();
    const { batch } = taken;
    // Nothing to merge: write only a checkpoint that passed dead-lettered events.
    if (batch.rollups.length === 0 && batch.series.length === 0 && batch.checkpoint <= this.#checkpoint) {
      this.#backlog.settled(cellsAtTake);
      return;
    }
    const started = performance.now();
    let merged;
    try {
      merged = await this.store.applyRollupFlush(batch);
    } catch (error) {
      this.#flushFailures++;
      if (++this.#failedInARow >= (this.options.flushMaxAttempts ?? Infinity)) {
        if (await this.#park(taken, reasonOf(error))) {
          this.#backlog.settled(cellsAtTake);
          return;
        }
      }
      this.engine.flushFailed(taken);
      this.logger.error("rollup flush failed; retrying with the next", {
        error: String(error),
        buckets: batch.rollups.length,
      });
      return;
    }
    // Applied: from here on nothing may hand these deltas back (that would count them twice).
    this.#failedInARow = 0;
    this.#backlog.settled(cellsAtTake);
    this.#checkpoint = batch.checkpoint;
    this.#fed.prune(this.#checkpoint);
    this.engine.flushed(taken, merged);
    const ms = performance.now() - started;
    const f = this.#flushes;
    f.count++;
    f.totalMs += ms;
    f.maxMs = Math.max(f.maxMs, ms);
    f.lastMs = ms;
    f.lastBuckets = batch.rollups.length;
  }

  /**
   * Parks the work of a flush that keeps failing: a `rollup-flush` dead letter for its seq range
   * and the checkpoint past it, in one transaction. The deltas are then dropped (the dead letter
   * stands for them); replaying it folds the range again. False if even that failed.
   */
  async #park(taken: ReturnType<StreamEngine["takeFlush"]>, reason: string): Promise<boolean> {
    const payload: RollupRangePayload = {
      fromSeq: this.#checkpoint,
      toSeq: taken.batch.checkpoint,
      buckets: taken.batch.rollups.length,
      events: this.#fed.upTo(taken.batch.checkpoint) - this.#fed.upTo(this.#checkpoint),
    };
    try {
      await this.store.deadLetters.parkRollupRange({
        kind: "rollup-flush",
        payload,
        reason,
        attempts: this.#failedInARow,
        at: this.clock.now(),
      }, payload.toSeq);
    } catch (error) {
      this.logger.error("parking a failing rollup flush in the dead letters failed", {
        error: String(error),
      });
      return false;
    }
    this.engine.flushDiscarded(taken);
    this.#checkpoint = payload.toSeq;
    this.#fed.prune(this.#checkpoint);
    this.#failedInARow = 0;
    this.logger.error("rollup flush failed repeatedly; its seq range went to the dead letters", {
      ...payload,
    });
    return true;
  }

  /**
   * Replays a `rollup-flush` or `event` dead letter: folds the events of its seq range into a
   * new engine and merges the result into the rollups in one transaction that also marks the
   * dead letter replayed, so a replay is applied at most once. Runs between flushes.
   */
  async replayDeadLetter(letter: DeadLetter): Promise<void> {
    const make = this.options.replayEngine;
    if (!make) throw new Error("stream replay is not configured");
    const batch = await foldDeadLetter(this.store, make(), letter);
    while (this.#flushing) await this.#flushing;
    const run = (async () => {
      await this.#readersGone();
      await this.store.applyRollupFlush({
        ...batch,
        checkpoint: this.#checkpoint,
        settlesDeadLetter: { id: letter.id, at: this.clock.now() },
      });
    })();
    this.#flushing = run.catch(() => {}).finally(() => (this.#flushing = null));
    await run;
  }

  /** Stops the timers and writes what is folded. */
  async close(): Promise<void> {
    if (this.#tickTimer) clearInterval(this.#tickTimer);
    if (this.#flushTimer) clearInterval(this.#flushTimer);
    await this.#flushing;
    await this.flush();
  }
}

export type { LiveMessage };

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
