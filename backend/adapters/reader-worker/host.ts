/**
 * The host's side of `protocol.ts`: a `ReadOffload` that sends heavy reads to
 * a reader worker and relays their bytes one chunk per pull, and answers the
 * worker's engine questions inside holds of the stream service's consistent
 * read (so no rollup flush lands while a hold is open). If the worker fails,
 * its open jobs fail with 503, its holds are let go, and later reads run on the
 * host's thread (`available` false).
 */
import { AppError, StoreUnavailableError, ValidationError } from "../../errors.ts";
import type { Logger } from "../../logger.ts";
import type { ConsistentReader, EngineReads } from "../../metrics/metrics-types.ts";
import type { ReadOffload } from "../../http/read-offload.ts";
import type { StoredEvent } from "../../../shared/event.ts";
import type { EngineAnswer, EngineAsk, HostMessage, ReadJob, WireError, WorkerMessage } from "./protocol.ts";

/**
 * Longest a hold keeps rollup flushes waiting. A part of a worker read takes milliseconds to a few
 * hundred on a loaded machine; a hold this long means the worker is stuck or starved.
 */
const HOLD_MAX_MS = 10_000;

/** The end of the channel the host talks to the worker on. */
export interface HostSide {
  postMessage(message: HostMessage): void;
  onmessage: ((event: MessageEvent<WorkerMessage>) => void) | null;
}

interface OpenJob {
  opened: { resolve: () => void; reject: (error: Error) => void } | null;
  /** The stream's controller while a pull waits for the worker. */
  waiting: ReadableStreamDefaultController<Uint8Array> | null;
  settle: (() => void) | null;
  onCut?: (series: number, bytes: number) => void;
  onError?: (error: unknown, records: number) => void;
}

export class ReaderWorkerHost implements ReadOffload {
  #available = true;
  #nextJob = 1;
  readonly #jobs = new Map<number, OpenJob>();
  readonly #holds = new Map<number, { engine: EngineReads | null; release: () => void }>();

  constructor(
    private readonly port: HostSide,
    private readonly deps: {
      reader: ConsistentReader;
      logger: Logger;
      /** Ends the worker thread. */
      terminate: () => void;
    },
  ) {
    port.onmessage = ({ data }) => this.#receive(data);
  }

  get available(): boolean {
    return this.#available;
  }

  readonly #sent = { metrics: 0, export: 0, eventsAfter: 0 };
  readonly #reads = new Map<
    number,
    { resolve: (events: StoredEvent[]) => void; reject: (error: Error) => void }
  >();

  get counts(): { metrics: number; export: number; eventsAfter: number; open: number } {
    return { ...this.#sent, open: this.#jobs.size };
  }

  eventsAfter(afterSeq: number, limit: number): Promise<StoredEvent[]> {
    if (!this.#available) return Promise.reject(new StoreUnavailableError("read"));
    const id = this.#nextJob++;
    this.#sent.eventsAfter++;
    return new Promise((resolve, reject) => {
      this.#reads.set(id, { resolve, reject });
      this.port.postMessage({ type: "read", job: id, spec: { kind: "eventsAfter", afterSeq, limit } });
    });
  }

  metrics(
    query: Parameters<ReadOffload["metrics"]>[0],
    options: Parameters<ReadOffload["metrics"]>[1],
  ): Promise<ReadableStream<Uint8Array>> {
    return this.#open({ kind: "metrics", query, maxAnswerBytes: options.maxAnswerBytes }, {
      onCut: options.onCut,
    });
  }

  export(
    request: Parameters<ReadOffload["export"]>[0],
    options: Parameters<ReadOffload["export"]>[1],
  ): Promise<ReadableStream<Uint8Array>> {
    return this.#open({ kind: "export", request, pageSize: options.pageSize }, { onError: options.onError });
  }

  /** Fails every open job and lets every hold go; later reads run on the host's thread. */
  fail(reason: string): void {
    if (!this.#available) return;
    this.#available = false;
    this.deps.logger.error("reader worker failed: heavy reads run on the ingest thread from now on", {
      reason,
    });
    this.deps.terminate();
    for (const [id, job] of this.#jobs) this.#failJob(id, job, { status: null, message: reason, errors: [] });
    this.#failReads();
    for (const hold of this.#holds.values()) hold.release();
    this.#holds.clear();
  }

  close(): Promise<void> {
    if (this.#available) {
      this.#available = false;
      this.deps.terminate();
      for (const [id, job] of this.#jobs) {
        this.#failJob(id, job, { status: null, message: "server closing", errors: [] });
      }
      this.#failReads();
      for (const hold of this.#holds.values()) hold.release();
      this.#holds.clear();
    }
    return Promise.resolve();
  }

  #open(spec: ReadJob, hooks: Pick<OpenJob, "onCut" | "onError">): Promise<ReadableStream<Uint8Array>> {
    if (!this.#available) return Promise.reject(new StoreUnavailableError("read"));
    const id = this.#nextJob++;
    this.#sent[spec.kind]++;
    return new Promise((resolve, reject) => {
      const job: OpenJob = { opened: null, waiting: null, settle: null, ...hooks };
      job.opened = {
        resolve: () => resolve(this.#stream(id, job)),
        reject,
      };
      this.#jobs.set(id, job);
      this.port.postMessage({ type: "open", job: id, spec });
    });
  }

  /**
   * The job's bytes. One chunk is asked for ahead (`highWaterMark` 1), so the worker reads and
   * encodes the next part while this thread writes the last one to the socket: a client that does
   * not read holds that chunk here and one in the worker.
   */
  #stream(id: number, job: OpenJob): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      pull: (controller) =>
        new Promise<void>((settle) => {
          if (!this.#jobs.has(id)) {
            controller.error(new StoreUnavailableError("read"));
            return settle();
          }
          job.waiting = controller;
          job.settle = settle;
          this.port.postMessage({ type: "pull", job: id });
        }),
      cancel: () => {
        if (this.#jobs.delete(id) && this.#available) this.port.postMessage({ type: "cancel", job: id });
      },
    }, { highWaterMark: 1 });
  }

  #receive(message: WorkerMessage): void {
    switch (message.type) {
      case "opened": {
        const job = this.#jobs.get(message.job);
        job?.opened?.resolve();
        if (job) job.opened = null;
        return;
      }
      case "chunk":
      case "end": {
        const job = this.#jobs.get(message.job);
        if (!job?.waiting) return;
        if (message.type === "chunk") job.waiting.enqueue(message.bytes);
        else {
          this.#jobs.delete(message.job);
          job.waiting.close();
        }
        this.#settle(job);
        return;
      }
      case "events":
        this.#reads.get(message.job)?.resolve(message.events);
        this.#reads.delete(message.job);
        return;
      case "failed": {
        const read = this.#reads.get(message.job);
        this.#reads.delete(message.job);
        read?.reject(fromWire(message.error));
        const job = this.#jobs.get(message.job);
        if (job) this.#failJob(message.job, job, message.error);
        return;
      }
      case "cut":
        this.#jobs.get(message.job)?.onCut?.(message.series, message.bytes);
        return;
      case "broke":
        this.#jobs.get(message.job)?.onError?.(new Error(message.message), message.records);
        return;
      case "hold":
        this.#hold(message.call);
        return;
      case "ask":
        void this.#answer(message.call, message.hold, message.ask);
        return;
      case "release": {
        const hold = this.#holds.get(message.hold);
        this.#holds.delete(message.hold);
        hold?.release();
        return;
      }
    }
  }

  #failReads(): void {
    for (const read of this.#reads.values()) read.reject(new StoreUnavailableError("read"));
    this.#reads.clear();
  }

  #settle(job: OpenJob): void {
    const settle = job.settle;
    job.waiting = null;
    job.settle = null;
    settle?.();
  }

  #failJob(id: number, job: OpenJob, wire: WireError): void {
    this.#jobs.delete(id);
    const error = fromWire(wire);
    if (job.opened) job.opened.reject(error);
    else if (job.waiting) {
      job.waiting.error(error);
      this.#settle(job);
    }
  }

  /**
   * Opens a hold: a consistent read that lasts until the worker releases it, or at most
   * `HOLD_MAX_MS` (rollup flushes wait meanwhile): past that it is let go, and the worker's next
   * question under it fails its read rather than mixing store rows and deltas of two flushes.
   */
  #hold(call: number): void {
    this.deps.reader.consistentRead((engine) =>
      new Promise<void>((release) => {
        if (!this.#available) return release();
        const timer = setTimeout(() => {
          if (!this.#holds.delete(call)) return;
          this.deps.logger.warn("reader worker hold let go after its limit: that read fails", {
            holdMs: HOLD_MAX_MS,
          });
          release();
        }, HOLD_MAX_MS);
        this.#holds.set(call, {
          engine,
          release: () => {
            clearTimeout(timer);
            release();
          },
        });
        this.port.postMessage({ type: "held", call, engine: engine !== null });
      })
    ).catch((error) => this.deps.logger.error("reader worker hold failed", { error: String(error) }));
  }

  async #answer(call: number, holdId: number, ask: EngineAsk): Promise<void> {
    const engine = this.#holds.get(holdId)?.engine;
    let answer: EngineAnswer | null = null;
    let error: string | undefined;
    try {
      if (!engine) throw new Error("no engine in this hold");
      answer = await engineAnswer(engine, ask);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    if (this.#available) this.port.postMessage({ type: "answer", call, answer, error });
  }
}

async function engineAnswer(engine: EngineReads, ask: EngineAsk): Promise<EngineAnswer> {
  switch (ask.kind) {
    case "rollups": {
      const rows = await engine.unflushedRollups(ask.query);
      return {
        kind: "rollups",
        rows: rows.map((r) => ({ deviceId: r.deviceId, start: r.start, state: r.agg.toState() })),
      };
    }
    case "series": {
      const rows = await engine.unflushedSeries(ask.query);
      return {
        kind: "series",
        rows: rows.map((r) => ({ eventType: r.eventType, deviceId: r.deviceId, state: r.agg.toState() })),
      };
    }
    case "untracked":
      return { kind: "untracked", any: await engine.anyUntracked(ask.eventType, ask.deviceIds) };
  }
}

/** The error a job failed with, as the route would have thrown it on this thread. */
function fromWire(wire: WireError): Error {
  if (wire.status === 400) return new ValidationError(wire.message, wire.errors, wire.body);
  if (wire.status !== null) return new AppError(wire.status, wire.message, wire.errors);
  return new StoreUnavailableError("read", { cause: new Error(wire.message) });
}
