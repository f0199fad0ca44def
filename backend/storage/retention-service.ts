/**
 * The retention job (docs/STORAGE.md): on a timer, with every decision taken
 * from the injected clock, it
 * 1. finishes drops a crash interrupted;
 * 2. for each raw day partition entirely older than raw retention (plus a margin), oldest
 *    first: exports it to cold storage when configured, then drops it; a day
 *    whose export failed is not dropped (nor any later one in that run). When
 *    rollups are kept (`guardRollups`), a day is dropped only if its highest
 *    seq is at or below the durable rollup checkpoint and no pending dead
 *    letter's seq range meets its seqs: the rollups may still need its events
 *    (a restart replays above the checkpoint, a replay folds the range);
 * 3. deletes rollup buckets past their tier's retention (resolutions under an
 *    hour: the minute tier; an hour and more: the hour tier);
 * 4. returns free pages to the file system.
 * Each step is a short store transaction, so ingestion commits between them.
 */
import type { Clock } from "../clock.ts";
import type { Logger } from "../logger.ts";
import type { Store } from "../store/store.ts";
import { exportStream } from "../export/export-service.ts";
import { deadLetterPages } from "./dead-letter-pages.ts";

const HOUR_MS = 3_600_000;

/** Where cold exports go (a directory on the host, see adapters/cold-storage). */
export interface ColdStorage {
  /**
   * Writes `body` under `name` so that the file either exists complete or not at all (written
   * aside, synced, then renamed); resolves with where it went and its size. Rejects on failure.
   */
  write(name: string, body: ReadableStream<Uint8Array>): Promise<{ path: string; bytes: number }>;
}

export interface RetentionOptions {
  rawMs: number;
  minuteRollupsMs: number;
  hourRollupsMs: number;
  /** Timer period, ms. */
  checkMs: number;
  storedResolutions: readonly number[];
  /** Cold storage and its format, or null for no export. */
  cold: { storage: ColdStorage; format: "ndjson.gz" | "parquet" } | null;
  /** Rows (with their ids) deleted per transaction while dropping (default 2,000). */
  chunkRows?: number;
  /**
   * Keep days whose events the rollups may still need (above the rollup checkpoint, or in a
   * pending `rollup-flush`/`event` dead letter's range). On when the stream engine runs.
   */
  guardRollups?: boolean;
  /**
   * A day is dropped only once it ended at least this long before `now − rawMs` (default and least
   * 60 s): a commit validated against an earlier `now` and still queued then cannot land in a day
   * being dropped. The server passes 60 s + the request timeout.
   */
  dropMarginMs?: number;
}

/** What one run did. */
export interface RetentionRun {
  at: number;
  dropped: { day: string; rows: number; ms: number }[];
  exported: { day: string; path: string; bytes: number }[];
  /** Days kept because their export failed. */
  exportFailures: { day: string; reason: string }[];
  /** Days past retention kept because the rollups still need their events. */
  blocked: { day: string; reason: string }[];
  rollupsDeleted: number;
  pagesFreed: number;
  ms: number;
}

export class RetentionService {
  #timer: ReturnType<typeof setInterval> | null = null;
  #running: Promise<RetentionRun> | null = null;
  #last: RetentionRun | null = null;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    readonly options: RetentionOptions,
  ) {}

  /** The last completed run, or null. */
  get lastRun(): RetentionRun | null {
    return this.#last;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.runOnce().catch((error) => this.logger.error("retention run failed", { error: String(error) }));
    }, this.options.checkMs);
  }

  /** One pass (a pass already running is joined, not doubled). */
  runOnce(): Promise<RetentionRun> {
    this.#running ??= this.#run().finally(() => (this.#running = null));
    return this.#running;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#running?.catch(() => {});
  }

  async #run(): Promise<RetentionRun> {
    const started = performance.now();
    const now = this.clock.now();
    const { storage } = this.store;
    const run: RetentionRun = {
      at: now,
      dropped: [],
      exported: [],
      exportFailures: [],
      blocked: [],
      rollupsDeleted: 0,
      pagesFreed: 0,
      ms: 0,
    };
    await storage.resumeDrops();
    const cutoff = now - this.options.rawMs - Math.max(60_000, this.options.dropMarginMs ?? 0);
    const guard = this.options.guardRollups ? await this.#rollupNeeds() : null;
    for (const p of await storage.eventPartitions()) {
      if (p.end > cutoff) break;
      const reason = guard && p.maxSeq > 0 ? guard(p.minSeq, p.maxSeq) : null;
      if (reason !== null) {
        run.blocked.push({ day: p.day, reason });
        this.logger.warn("day past retention kept: the rollups still need its events", {
          day: p.day,
          reason,
        });
        continue;
      }
      if (this.options.cold) {
        try {
          run.exported.push({ day: p.day, ...await this.#export(p) });
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          run.exportFailures.push({ day: p.day, reason });
          this.logger.error("cold export failed; the day is kept until it succeeds", { day: p.day, reason });
          break;
        }
      }
      const t = performance.now();
      const { rows } = await storage.dropEventPartition(p.start, { chunkRows: this.options.chunkRows });
      run.dropped.push({ day: p.day, rows, ms: Math.round(performance.now() - t) });
      this.logger.info("raw event partition dropped", { day: p.day, rows });
    }
    for (const resolution of this.options.storedResolutions) {
      const keep = resolution < HOUR_MS ? this.options.minuteRollupsMs : this.options.hourRollupsMs;
      run.rollupsDeleted += await storage.expireRollups(resolution, now - keep);
    }
    run.pagesFreed = await storage.reclaimSpace();
    run.ms = Math.round(performance.now() - started);
    this.#last = run;
    return run;
  }

  /**
   * Why a day holding seqs [minSeq, maxSeq] must be kept for the rollups, or null: the durable
   * checkpoint and every pending dead letter's seq range (`rollup-flush`: fromSeq < seq <= toSeq;
   * `event`: its seq), read once per run.
   */
  async #rollupNeeds(): Promise<(minSeq: number, maxSeq: number) => string | null> {
    const checkpoint = await this.store.rollupCheckpoint();
    const ranges: { id: number; from: number; to: number }[] = [];
    for (const kind of ["rollup-flush", "event"]) {
      for await (const page of deadLetterPages(this.store.deadLetters, { kind, pending: true })) {
        for (const d of page) {
          const p = d.payload as { fromSeq?: unknown; toSeq?: unknown; seq?: unknown } | null;
          if (typeof p?.fromSeq === "number" && typeof p.toSeq === "number") {
            ranges.push({ id: d.id, from: p.fromSeq + 1, to: p.toSeq });
          } else if (typeof p?.seq === "number") ranges.push({ id: d.id, from: p.seq, to: p.seq });
        }
      }
    }
    return (minSeq, maxSeq) => {
      if (maxSeq > checkpoint) return `holds seqs up to ${maxSeq}, above the rollup checkpoint ${checkpoint}`;
      const letter = ranges.find((r) => r.from <= maxSeq && r.to >= minSeq);
      return letter ? `pending dead letter ${letter.id} covers some of its events` : null;
    };
  }

  async #export(p: { day: string; start: number; end: number }) {
    const { storage, format } = this.options.cold!;
    const parquet = format === "parquet";
    let body = await exportStream(this.store, {
      source: "events",
      format: parquet ? "parquet" : "ndjson",
      from: p.start,
      to: p.end,
    }, {
      onError: (error, records) =>
        this.logger.error("cold export failed part-way", { day: p.day, records, error: String(error) }),
    });
    if (!parquet) {
      body = body.pipeThrough(
        new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
      );
    }
    return await storage.write(`events-${p.day}.${format}`, body);
  }
}
