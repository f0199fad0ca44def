/**
 * The JSON answer of `GET /v1/metrics`, written from typed columns as a stream
 * of UTF-8 chunks. Byte for byte what `JSON.stringify` gives for the same
 * answer with nullable arrays (`metricsAnswerObject`), which the tests compare,
 * without building 5.76 M boxed numbers and one 34 MiB string for a day of
 * minutes of 1,000 devices; the stream writes one series at a time, so the
 * server holds a few chunks of text rather than the whole answer.
 */
import type { MetricsColumnsResult } from "../metrics/metrics-types.ts";
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

/**
 * The answer as UTF-8 chunks of about 128 KiB: `JSON.stringify(metricsAnswerObject(head, result))`
 * without the objects. Each chunk is yielded as soon as it is full.
 */
export function* metricsAnswerChunks(
  head: MetricsAnswerHead,
  result: MetricsColumnsResult,
): Generator<Uint8Array<ArrayBuffer>, void, undefined> {
  try {
    const w = new JsonChunkWriter({ chunkBytes: 128 * 1024 });
    const opening = JSON.stringify(head);
    w.raw(opening.slice(0, -1)).raw(opening === "{}" ? '"timestamps":' : ',"timestamps":');
    // As a typed array: numbers() then only ever sees one kind of array, and stays fast for columns.
    w.numbers(Float64Array.from(result.timestamps)).raw(',"series":[');
    // One array for every column in turn: the columns are computed as they are written.
    const scratch = new Float64Array(result.timestamps.length);
    for (let i = 0; i < result.series.length; i++) {
      const s = result.series[i];
      w.raw(i === 0 ? '{"deviceId":' : ',{"deviceId":').value(s.deviceId).raw(',"values":{');
      head.aggregates.forEach((name, j) => {
        w.raw(j === 0 ? "" : ",").value(name).raw(":").numbers(s.column(name, scratch));
      });
      w.raw("}}");
      yield* w.take();
    }
    w.raw('],"truncated":').value(result.truncated).raw("}");
    yield* w.end();
  } finally {
    result.release(); // the columns are written (or never will be): their memory may be reused
  }
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
