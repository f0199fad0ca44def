/**
 * The messages between the thread that answers ingestion (the host) and a
 * reader worker, which runs heavy reads (metric series with sketches, exports)
 * on its own SQLite connection and sends back their answer bytes.
 *
 * A job is opened, then pulled one chunk at a time: the worker reads and
 * encodes the next part only when the host asks (so a client that does not
 * read holds one chunk in the worker and what its socket buffers). The worker
 * asks the host for the engine's unflushed deltas inside a *hold*: while a
 * hold is open the host lets no rollup flush land, so what the worker reads
 * from the store plus the deltas it gets is every committed event exactly once.
 */
import type { ExportRequest } from "../../export/export-service.ts";
import type { MetricsQuery } from "../../metrics/metrics-types.ts";
import type { AggState } from "../../stream/aggregate.ts";
import type { StoredEvent } from "../../../shared/event.ts";
import type { FieldError } from "../../../shared/event-schema.ts";
import type { UnflushedRollupsQuery, UnflushedSeriesQuery } from "../../stream/engine-reads.ts";

/** What the worker needs to run jobs like the host would (plain data). */
export interface ReaderSettings {
  /** Stored rollup resolutions, ascending, ms. */
  storedResolutions: number[];
  limits: {
    maxPoints: number;
    maxSeries: number;
    maxRawEvents: number;
    maxCells: number;
    maxScanBuckets: number;
  };
  /** Stored buckets with sketches per part of a sliced metric read. */
  sliceSketchBuckets: number;
}

/** A job: a metric series answer (JSON) or an export (its format's bytes). */
export type ReadJob =
  | { kind: "metrics"; query: MetricsQuery; maxAnswerBytes: number }
  | { kind: "export"; request: ExportRequest; pageSize: number };

/** A read answered in one message: a page of events in seq order (a live replay's). */
export interface EventsAfterRead {
  kind: "eventsAfter";
  afterSeq: number;
  limit: number;
}

/** An error crossing the thread boundary: an `AppError`'s status and fields, or a failure. */
export interface WireError {
  status: number | null;
  message: string;
  errors: FieldError[];
  body?: Record<string, unknown>;
}

/** What the worker asks the engine, inside a hold. */
export type EngineAsk =
  | { kind: "rollups"; query: UnflushedRollupsQuery }
  | { kind: "series"; query: UnflushedSeriesQuery }
  | { kind: "untracked"; eventType: string; deviceIds: string[] };

/** The engine's answer to an `EngineAsk`, aggregates as states. */
export type EngineAnswer =
  | { kind: "rollups"; rows: { deviceId: string | null; start: number; state: AggState }[] }
  | { kind: "series"; rows: { eventType: string; deviceId: string | null; state: AggState }[] }
  | { kind: "untracked"; any: boolean };

export type HostMessage =
  | { type: "open"; job: number; spec: ReadJob }
  | { type: "read"; job: number; spec: EventsAfterRead }
  | { type: "pull"; job: number }
  | { type: "cancel"; job: number }
  /** A hold is open (`engine` false: stream processing is off, there are no deltas). */
  | { type: "held"; call: number; engine: boolean }
  | { type: "answer"; call: number; answer: EngineAnswer | null; error?: string };

export type WorkerMessage =
  | { type: "opened"; job: number }
  /** The answer of a `read`. */
  | { type: "events"; job: number; events: StoredEvent[] }
  | { type: "chunk"; job: number; bytes: Uint8Array }
  | { type: "end"; job: number }
  /** The job failed: before it opened (`status` set for a client error) or part-way. */
  | { type: "failed"; job: number; error: WireError }
  | { type: "hold"; call: number }
  | { type: "ask"; call: number; hold: number; ask: EngineAsk }
  | { type: "release"; hold: number }
  /** A metric answer was cut at its byte bound (the job goes on to its end). */
  | { type: "cut"; job: number; series: number; bytes: number }
  /** An export failed part-way: its failure marker follows, then `failed`. */
  | { type: "broke"; job: number; message: string; records: number };
