/**
 * The JSON answer of `GET /v1/metrics`, written from typed columns as a stream
 * of UTF-8 chunks. Byte for byte what `JSON.stringify` gives for the same
 * answer with nullable arrays (`metricsAnswerObject`), which the tests compare,
 * without building 5.76 M boxed numbers and one 34 MiB string for a day of
 * minutes of 1,000 devices; the stream writes one series at a time, so the
 * server holds a few chunks of text rather than the whole answer.
 */
import type {
  MetricsColumnSeries,
  MetricsColumnsResult,
  MetricsQuery,
  MetricsSlicedResult,
} from "../metrics/metrics-types.ts";
import type { AggregateName } from "../stream/aggregate.ts";
import { toNullableColumn } from "../metrics/scalar-columns.ts";
import { JsonChunkWriter } from "./json-writer.ts";

/** The fields of the answer before `timestamps`, in answer order (plain JSON values). */
export interface MetricsAnswerHead {
  eventType: string;
  from: string;
  to: string;
  step: number;
  window: number;
  source: string;
  aggregates: AggregateName[];
  fill: string;
}

/** The head of the answer to `query`, read from `source` (a resolution in ms, or raw events). */
export function metricsHead(query: MetricsQuery, source: "raw" | number): MetricsAnswerHead {
  return {
    eventType: query.eventType,
    from: new Date(query.from).toISOString(),
    to: new Date(query.to).toISOString(),
    step: query.step,
    window: query.window ?? query.step,
    source: source === "raw" ? "raw" : `rollup:${source}`,
    aggregates: query.aggregates,
    fill: query.fill,
  };
}

/**
 * The answer as a stream of UTF-8 chunks, written as they are read: the server holds a chunk or
 * two of text rather than the whole answer (34 MiB for a day of minutes of 1,000 devices).
 */
export function metricsAnswerStream(
  head: MetricsAnswerHead,
  result: MetricsColumnsResult,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  const chunks = metricsAnswerChunks(head, result);
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull(controller) {
      const next = chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel() {
      chunks.return(); // runs the generator's finally: the result's memory goes back
    },
  }, { highWaterMark: 0 });
}

/** Options of `metricsSlicedStream`. */
export interface SlicedAnswerOptions {
  /**
   * Bytes after which no further series is written: the answer ends with `"truncated":true`
   * (valid JSON, every series in it complete). Default: no bound.
   */
  maxBytes?: number;
  /** Told once when the answer is cut at `maxBytes`, with the series written. */
  onCut?: (series: number, bytes: number) => void;
}

/**
 * A sliced answer (`MetricsService.querySlices`) as a pull stream: one chunk per pull, and the
 * next slice of series is read from the store only when the consumer has taken what was written
 * of the previous one. A client that stops reading holds at most a chunk and a slice; cancelling
 * the stream stops the reads.
 */
export function metricsSlicedStream(
  head: MetricsAnswerHead,
  result: MetricsSlicedResult,
  options: SlicedAnswerOptions = {},
): ReadableStream<Uint8Array<ArrayBuffer>> {
  const chunks = metricsSlicedChunks(head, result, options);
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await chunks.return(); // stops before the next slice is read; its memory goes back
    },
  }, { highWaterMark: 0 });
}

/** The chunks of a sliced answer (see `metricsSlicedStream`). */
export async function* metricsSlicedChunks(
  head: MetricsAnswerHead,
  result: MetricsSlicedResult,
  options: SlicedAnswerOptions = {},
): AsyncGenerator<Uint8Array<ArrayBuffer>, void, undefined> {
  const maxBytes = options.maxBytes ?? Infinity;
  const w = new JsonChunkWriter({ chunkBytes: CHUNK_BYTES });
  let bytes = 0;
  let written = 0;
  let cut = false;
  const count = function* (chunks: Iterable<Uint8Array<ArrayBuffer>>) {
    for (const chunk of chunks) {
      bytes += chunk.length;
      yield chunk;
    }
  };
  try {
    writeOpening(w, head, result.timestamps);
    const scratch = new Float64Array(result.timestamps.length);
    slices: for await (const slice of result.slices) {
      try {
        for (const s of slice.series) {
          if (bytes + w.pending >= maxBytes) {
            cut = true;
            break slices;
          }
          writeSeries(w, head, s, written++, scratch);
          yield* count(w.take());
        }
        // What the slice wrote goes out before the next slice is read: one slice ahead at most.
        yield* count(w.end());
      } finally {
        slice.release();
      }
    }
    if (cut) options.onCut?.(written, bytes + w.pending);
    w.raw('],"truncated":').value(result.truncated || cut).raw("}");
    yield* count(w.end());
  } finally {
    await result.slices.return(); // a cut or cancelled answer reads no further slice
  }
}

/**
 * The answer as UTF-8 chunks of about 128 KiB: `JSON.stringify(metricsAnswerObject(head, result))`
 * without the objects. Each chunk is yielded as soon as it is full.
 */
export function* metricsAnswerChunks(
  head: MetricsAnswerHead,
  result: MetricsColumnsResult,
): Generator<Uint8Array<ArrayBuffer>, void, undefined> {
  try {
    const w = new JsonChunkWriter({ chunkBytes: CHUNK_BYTES });
    writeOpening(w, head, result.timestamps);
    // One array for every column in turn: the columns are computed as they are written.
    const scratch = new Float64Array(result.timestamps.length);
    for (let i = 0; i < result.series.length; i++) {
      writeSeries(w, head, result.series[i], i, scratch);
      yield* w.take();
    }
    w.raw('],"truncated":').value(result.truncated).raw("}");
    yield* w.end();
  } finally {
    result.release(); // the columns are written (or never will be): their memory may be reused
  }
}

const CHUNK_BYTES = 128 * 1024;

/** The head fields, the timestamps and the opening of `series`. */
function writeOpening(w: JsonChunkWriter, head: MetricsAnswerHead, timestamps: number[]): void {
  const opening = JSON.stringify(head);
  w.raw(opening.slice(0, -1)).raw(opening === "{}" ? '"timestamps":' : ',"timestamps":');
  // As a typed array: numbers() then only ever sees one kind of array, and stays fast for columns.
  w.numbers(Float64Array.from(timestamps)).raw(',"series":[');
}

/** The `index`-th series of the answer, each column computed as it is written into `scratch`. */
function writeSeries(
  w: JsonChunkWriter,
  head: MetricsAnswerHead,
  s: MetricsColumnSeries,
  index: number,
  scratch: Float64Array,
): void {
  w.raw(index === 0 ? '{"deviceId":' : ',{"deviceId":').value(s.deviceId).raw(',"values":{');
  head.aggregates.forEach((name, j) => {
    w.raw(j === 0 ? "" : ",").value(name).raw(":").numbers(s.column(name, scratch));
  });
  w.raw("}}");
}

/** The answer as the object `c.json` used to serialise (nullable arrays): the reference of the tests. */
export function metricsAnswerObject(head: MetricsAnswerHead, result: MetricsColumnsResult): unknown {
  return {
    ...head,
    timestamps: result.timestamps,
    series: result.series.map((s) => ({
      deviceId: s.deviceId,
      values: Object.fromEntries(head.aggregates.map((name) => [name, toNullableColumn(s.column(name))])),
    })),
    truncated: result.truncated,
  };
}
