/**
 * The port through which read routes run heavy reads off the thread that
 * commits and answers ingestion: a reader worker with its own database
 * connection (`adapters/reader-worker/`) on runtimes that have Web Workers and
 * `node:sqlite` (Deno). Without one, the routes run the same reads on their own
 * thread, in slices (`MetricsService.querySlices`, `export/export-service.ts`).
 */
import type { ExportRequest } from "../export/export-service.ts";
import type { Logger } from "../logger.ts";
import type { StoredEvent } from "../../shared/event.ts";
import type { ConsistentReader, MetricsLimits, MetricsQuery } from "../metrics/metrics-types.ts";

/** Told once when a metric answer is cut at its byte bound, with the series written. */
export type OnCut = (series: number, bytes: number) => void;

export interface ReadOffload {
  /** Whether jobs can be sent (false once the worker has failed: callers read on their thread). */
  readonly available: boolean;
  /** Jobs sent since start, by kind, and jobs open now (for /metrics). */
  readonly counts: { metrics: number; export: number; eventsAfter: number; open: number };
  /**
   * The JSON answer of a metric series query as a pull stream. Rejects as the same query would on
   * this thread (a `ValidationError` for a query over the limits) once its first part is read.
   */
  metrics(
    query: MetricsQuery,
    options: { maxAnswerBytes: number; onCut?: OnCut },
  ): Promise<ReadableStream<Uint8Array>>;
  /** The bytes of an export (`exportStream`) as a pull stream; `onError` as its option. */
  export(
    request: ExportRequest,
    options: { pageSize: number; onError?: (error: unknown, records: number) => void },
  ): Promise<ReadableStream<Uint8Array>>;
  /** `Store.readEventsAfter` on the worker's connection (a live replay's pages). */
  eventsAfter(afterSeq: number, limit: number): Promise<StoredEvent[]>;
  /** Ends the worker: open jobs fail, held flushes are let go. */
  close(): Promise<void>;
}

/** Starts a `ReadOffload` for a server (runtime adapter); null where the runtime has none. */
export type ReadOffloadFactory = (deps: {
  /** The consistent reads of the server's stream service (or a stand-in without one). */
  reader: ConsistentReader;
  /** Stored rollup resolutions, ascending, ms. */
  storedResolutions: readonly number[];
  limits: MetricsLimits;
  logger: Logger;
}) => Promise<ReadOffload | null>;
