/**
 * Bulk import: streams a file of events into the store with bounded memory.
 *
 * Records (see `records.ts`) are gathered into batches (`batchEvents` events or
 * 4 MiB of input, whichever comes first). Each batch is charged to the API
 * key's rate limit (waiting while the bucket is short, instead of failing),
 * validated, given content ids where the event has none (`content-id.ts`),
 * enriched and submitted to the group committer; the next batch is read only
 * once this one has committed, which is the backpressure on the upload. A
 * full commit queue (`OverloadedError`) is waited out with a capped backoff.
 *
 * Progress is kept in memory for `GET /v1/import/:id` and saved to the store
 * when the job starts, every `saveEveryMs`, and at the end. A job the store
 * still shows `running` but that no longer runs here was interrupted by a
 * restart: it reads as `failed`.
 */
import type { Principal } from "../auth/api-keys.ts";
import type { Clock } from "../clock.ts";
import {
  AppError,
  ConflictError,
  KeyConcurrencyError,
  OverloadedError,
  RequestTimeoutError,
} from "../errors.ts";
import { enrich, UnparsableMarker } from "../ingest/ingest-service.ts";
import type { GroupCommitter } from "../ingest/group-committer.ts";
import type { RateLimit, RateLimiter } from "../ingest/rate-limiter.ts";
import type { Logger } from "../logger.ts";
import type { ImportJobRecord, Store } from "../store/store.ts";
import type { EventValidator } from "../../shared/event-schema.ts";
import type { EnrichedEvent, ValidEvent } from "../../shared/event.ts";
import { bodySource, readChunks } from "./body-source.ts";
import { contentIds } from "./content-id.ts";
import { csvRecords } from "./csv-records.ts";
import type { ImportOptions } from "./import-options.ts";
import { JsonArraySplitter } from "./json-array-splitter.ts";
import { NdjsonSplitter } from "./ndjson-splitter.ts";
import type { ImportRecord } from "./records.ts";
import { type IngestOutcomes, NO_OUTCOMES, rejectReason } from "../observability/ingest-outcomes.ts";

/** Most line errors kept per job. */
export const MAX_JOB_ERRORS = 100;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const MAX_OVERLOAD_BACKOFF_MS = 2_000;
/** How long an import waits out a full commit queue before it fails (503). */
const MAX_OVERLOAD_WAIT_MS = 5 * 60_000;
export const INTERRUPTED = "interrupted: the server stopped before the import finished; " +
  "import the file again (events already stored are counted as duplicates)";

/** Bulk import bounds (see `import/import-service.ts`). */
export interface ImportLimits {
  /** Imports running at once in this process (then 503). */
  maxRunning: number;
  /** Imports running at once per API key (then 429). */
  maxRunningPerKey: number;
  /** Longest time one import may run, ms (then 408; what committed before stays stored). */
  maxDurationMs: number;
  /** Slowest average upload accepted over each 10 s of waiting for the client, bytes/s (0: off). */
  minBytesPerSecond: number;
}

export interface ImportDeps {
  store: Store;
  committer: GroupCommitter;
  validator: EventValidator;
  clock: Clock;
  partitions: number;
  limiter: RateLimiter;
  defaultRateLimit: RateLimit;
  logger: Logger;
  /** No body bytes for this long → 408 and the job fails. */
  idleTimeoutMs: number;
  /** Most events per batch (at most the commit queue and the smallest burst allow). */
  batchEvents: number;
  /** Most imports running at once in this process (each holds up to one batch in memory). */
  maxRunning?: number;
  /** Most imports running at once per API key (default 1), so one key cannot take every slot. */
  maxRunningPerKey?: number;
  /** Longest time one import may run, ms (default 1 h); then it fails with 408. */
  maxDurationMs?: number;
  /** Slowest accepted upload, bytes/s averaged over 10 s of waiting for the client (0: off). */
  minBytesPerSecond?: number;
  /** How often progress is saved while a job runs, ms (default 2 s). */
  saveEveryMs?: number;
  /** Waits `ms` (tests pass one that moves a fake clock). */
  sleep?: (ms: number) => Promise<void>;
  /** Counts each record's outcome (`pulsestream_events_total{transport="import"}`). */
  outcomes?: IngestOutcomes;
}

export class ImportService {
  #running = new Map<string, ImportJobRecord>();
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #outcomes: IngestOutcomes;

  constructor(private readonly deps: ImportDeps) {
    this.#outcomes = deps.outcomes ?? NO_OUTCOMES;
    this.#sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Imports `body` under job `id`; resolves with the finished job, or throws the error that failed it. */
  async run(
    id: string,
    params: { body: ReadableStream<Uint8Array>; options: ImportOptions; principal: Principal },
  ): Promise<ImportJobRecord> {
    this.#admit(params.principal.keyId);
    if (this.#running.has(id)) throw new ConflictError(`Import ${id} already exists`, "import-id");
    const now = this.deps.clock.now();
    const job: ImportJobRecord = {
      id,
      keyId: params.principal.keyId,
      state: "running",
      format: params.options.format,
      bytesRead: 0,
      lines: 0,
      accepted: 0,
      duplicates: 0,
      rejected: 0,
      errors: [],
      failure: null,
      startedAt: now,
      updatedAt: now,
      finishedAt: null,
    };
    this.#running.set(id, job); // claimed before any await, so a concurrent twin gets the 409
    let saved = false;
    let committing: Promise<void> = Promise.resolve();
    const maxDurationMs = this.deps.maxDurationMs ?? 3_600_000;
    const deadline = new AbortController();
    const deadlineTimer = setTimeout(
      () => deadline.abort(new RequestTimeoutError(maxDurationMs, "import deadline")),
      maxDurationMs,
    );
    const signal = deadline.signal;
    try {
      if (await this.deps.store.getImportJob(id)) {
        throw new ConflictError(`Import ${id} already exists`, "import-id");
      }
      const bytes = bodySource(params.body, {
        idleMs: this.deps.idleTimeoutMs,
        gzip: params.options.gzip,
        onBytes: (n) => job.bytesRead += n,
        minBytesPerSecond: this.deps.minBytesPerSecond,
        signal,
      });
      // One batch commits (on the store's writer) while the next is parsed and validated; at most
      // these two are held, and reading waits for the older commit.
      const handOver = async (records: ImportRecord[]) => {
        const events = await this.#prepare(job, records, params.principal, signal);
        await committing;
        signal.throwIfAborted();
        committing = this.#commit(job, events, signal);
        committing.catch(() => {}); // awaited before the next hand-over or at the end
      };
      let batch = new Batch();
      for await (const records of recordGroups(bytes, params.options)) {
        if (!saved) saved = await this.#save(job);
        for (const record of records) {
          batch.add(record);
          if (!batch.full(this.deps.batchEvents)) continue;
          await handOver(batch.records);
          batch = new Batch();
          if (this.deps.clock.now() - job.updatedAt >= (this.deps.saveEveryMs ?? 2_000)) {
            await this.#save(job);
          }
        }
      }
      await handOver(batch.records);
      await committing;
      job.state = "completed";
      await this.#finish(job);
      this.#log(job);
      return { ...job };
    } catch (caught) {
      job.state = "failed";
      await committing.catch(() => {});
      // What committed before the failure stays stored; the deadline's message says how much.
      const error = signal.aborted && caught === signal.reason
        ? this.#deadlineError(job, maxDurationMs)
        : caught;
      job.failure = error instanceof AppError ? error.message : "internal error";
      // A job that failed before its first record (bad CSV mapping, …) never existed for clients.
      if (saved) await this.#finish(job).catch(() => {});
      this.#log(job);
      throw error;
    } finally {
      clearTimeout(deadlineTimer);
      this.#running.delete(id);
    }
  }

  /** Refuses a new import when the key's slots (429), or every slot (503), are taken. */
  #admit(keyId: string): void {
    const perKey = this.deps.maxRunningPerKey ?? 1;
    let mine = 0;
    for (const job of this.#running.values()) if (job.keyId === keyId) mine++;
    if (mine >= perKey) {
      throw new KeyConcurrencyError(
        `This API key already runs ${mine} import(s), the most it may (IMPORT_MAX_RUNNING_PER_KEY); retry when one has finished`,
        5,
        "import",
      );
    }
    const maxRunning = this.deps.maxRunning ?? 4;
    if (this.#running.size >= maxRunning) {
      throw new OverloadedError(5, `${maxRunning} imports are running (IMPORT_MAX_RUNNING); retry later`);
    }
  }

  #deadlineError(job: ImportJobRecord, maxDurationMs: number): RequestTimeoutError {
    const committed = job.accepted + job.duplicates;
    return new RequestTimeoutError(
      maxDurationMs,
      `Import did not finish within ${maxDurationMs} ms (IMPORT_MAX_DURATION_MS); the ${committed} events ` +
        `committed before the deadline (${job.accepted} accepted, ${job.duplicates} duplicates, ` +
        `${job.lines} lines read) stay stored: import the rest again (stored events count as duplicates)`,
    );
  }

  /** Imports running now. */
  get running(): number {
    return this.#running.size;
  }

  /** The job's progress (live while it runs here), or null. */
  async get(id: string): Promise<ImportJobRecord | null> {
    const live = this.#running.get(id);
    if (live) return { ...live, errors: [...live.errors] };
    const stored = await this.deps.store.getImportJob(id);
    if (stored?.state !== "running") return stored;
    return { ...stored, state: "failed", failure: INTERRUPTED, finishedAt: stored.updatedAt };
  }

  #log(job: ImportJobRecord): void {
    const { id, keyId, state, format, bytesRead, lines, accepted, duplicates, rejected, failure } = job;
    const fields = { id, keyId, format, bytesRead, lines, accepted, duplicates, rejected, failure };
    if (state === "failed") this.deps.logger.warn("import failed", fields);
    else this.deps.logger.info("import completed", fields);
  }

  async #save(job: ImportJobRecord): Promise<true> {
    job.updatedAt = this.deps.clock.now();
    await this.deps.store.saveImportJob({ ...job });
    return true;
  }

  #finish(job: ImportJobRecord): Promise<true> {
    job.finishedAt = this.deps.clock.now();
    return this.#save(job);
  }

  /** Charges, validates (recording rejects) and enriches one batch; returns the events to commit. */
  async #prepare(
    job: ImportJobRecord,
    records: readonly ImportRecord[],
    principal: Principal,
    signal: AbortSignal,
  ) {
    if (records.length === 0) return [];
    await this.#charge(principal, records.length, signal);
    const now = this.deps.clock.now();
    const valid: ValidEvent[] = [];
    for (const r of records) {
      const checked = r.item instanceof UnparsableMarker
        ? { ok: false as const, errors: [{ field: "event", message: r.item.unparsable }] }
        : this.deps.validator.validate(r.item, now);
      if (checked.ok) {
        valid.push(checked.event);
        continue;
      }
      job.rejected++;
      this.#outcomes.rejected(rejectReason(checked.errors[0]?.field)).inc();
      for (const e of checked.errors) {
        if (job.errors.length >= MAX_JOB_ERRORS) break;
        job.errors.push({ line: r.line, ...(r.index === undefined ? {} : { index: r.index }), ...e });
      }
    }
    const ids = await contentIds(valid.filter((e) => e.id === undefined));
    let next = 0;
    job.lines += records.length;
    return valid.map((e) =>
      enrich(e, { now, partitions: this.deps.partitions, fallbackId: e.id ?? ids[next++] })
    );
  }

  async #commit(job: ImportJobRecord, events: EnrichedEvent[], signal: AbortSignal): Promise<void> {
    let outcomes;
    try {
      outcomes = await this.#submit(events, job.keyId, signal);
    } catch (error) {
      (error instanceof OverloadedError ? this.#outcomes.overloaded : this.#outcomes.failed).inc(
        events.length,
      );
      throw error;
    }
    const before = { accepted: job.accepted, duplicates: job.duplicates };
    for (const outcome of outcomes) {
      if (outcome === "accepted") job.accepted++;
      else job.duplicates++;
    }
    this.#outcomes.accepted.inc(job.accepted - before.accepted);
    this.#outcomes.duplicate.inc(job.duplicates - before.duplicates);
  }

  /** Takes one token per record from the key's bucket, waiting while it is short. */
  async #charge(principal: Principal, cost: number, signal: AbortSignal): Promise<void> {
    const limit = principal.rateLimit ?? this.deps.defaultRateLimit;
    let left = cost;
    while (left > 0) {
      signal.throwIfAborted();
      const take = Math.min(left, limit.burst);
      const decision = this.deps.limiter.take(principal.keyId, take, limit);
      if (decision.allowed) left -= take;
      else {await this.#sleep(
          Math.max(1, Math.ceil(((take - decision.remaining) / limit.ratePerSecond) * 1000)),
        );}
    }
  }

  /**
   * Submits to the committer for `keyId` (a key revoked mid-import stops it), waiting out a full
   * queue with a capped exponential backoff.
   */
  async #submit(events: EnrichedEvent[], keyId: string, signal: AbortSignal) {
    let delay = 10;
    let waited = 0;
    for (;;) {
      signal.throwIfAborted();
      try {
        return await this.deps.committer.submit(events, [], keyId);
      } catch (error) {
        if (!(error instanceof OverloadedError) || waited >= MAX_OVERLOAD_WAIT_MS) throw error;
        await this.#sleep(delay);
        waited += delay;
        delay = Math.min(delay * 2, MAX_OVERLOAD_BACKOFF_MS);
      }
    }
  }
}

/** Records gathered for one commit. */
class Batch {
  records: ImportRecord[] = [];
  #bytes = 0;
  add(record: ImportRecord): void {
    this.records.push(record);
    this.#bytes += record.size;
  }
  full(maxEvents: number): boolean {
    return this.records.length >= maxEvents || this.#bytes >= MAX_BATCH_BYTES;
  }
}

/** The records of `bytes` in the request's format, in groups as they are parsed. */
async function* recordGroups(
  bytes: ReadableStream<Uint8Array>,
  options: ImportOptions,
): AsyncGenerator<ImportRecord[]> {
  if (options.csv) {
    yield* csvRecords(bytes, options.csv, options.gzip);
    return;
  }
  const splitter = options.format === "json" ? new JsonArraySplitter() : new NdjsonSplitter();
  for await (const chunk of readChunks(bytes, options.gzip)) yield splitter.feed(chunk);
  yield splitter.end();
}
