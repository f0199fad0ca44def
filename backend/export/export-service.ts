/**
 * Streams raw events or rollup buckets of a time range as NDJSON, CSV or
 * Parquet. Records are read in keyset pages from the store and encoded one page
 * at a time inside a pull-based `ReadableStream`: the next page is read only
 * when the consumer has taken the previous one, so memory is one page whatever
 * the range (backpressure from the socket or file reaches the store reads).
 */
import { StepPacer } from "../reads/step-pacer.ts";
import type { StoredEvent } from "../../shared/event.ts";
import type { RollupRecord, Store } from "../store/store.ts";
import {
  csvEncoder,
  EVENT_CSV_FIXED,
  EVENT_PARQUET_COLUMNS,
  eventCsvEncoder,
  eventRecord,
  type ExportFormat,
  ndjsonEncoder,
  type PageEncoder,
  parquetEncoder,
  ROLLUP_COLUMNS,
  ROLLUP_PARQUET_COLUMNS,
  rollupRecord,
} from "./export-formats.ts";

export interface ExportRequest {
  source: "events" | "rollups";
  format: ExportFormat;
  /** Inclusive start, exclusive end, epoch ms (event time; bucket start for rollups). */
  from: number;
  to: number;
  /** Rollup resolution, ms (rollups only). */
  resolution?: number;
  /** Only this event type / device (optional filters). */
  eventType?: string;
  deviceId?: string;
}

export interface ExportOptions {
  /** Records per page (default `EXPORT_PAGE`). */
  pageSize?: number;
  /** Told of a failure part-way through (the output then ends with the format's marker). */
  onError?: (error: unknown, records: number) => void;
}

/** Records per page read from the store and encoded at once (one Parquet row group). */
export const EXPORT_PAGE = 5000;
/**
 * Most distinct metadata keys a CSV export turns into columns; the others go into one JSON column
 * (`metadata`), so no range is ever too varied to export.
 */
export const MAX_CSV_METADATA_KEYS = 256;

/** The MIME type and file extension of each format. */
export const EXPORT_MEDIA: Record<ExportFormat, { type: string; ext: string }> = {
  ndjson: { type: "application/x-ndjson", ext: "ndjson" },
  csv: { type: "text/csv; charset=utf-8", ext: "csv" },
  parquet: { type: "application/vnd.apache.parquet", ext: "parquet" },
};

async function* eventPages(
  store: Store,
  req: ExportRequest,
  pageSize: number,
  maxSeq = Infinity,
): AsyncGenerator<StoredEvent[]> {
  let after: { timestamp: number; seq: number } | undefined;
  for (;;) {
    const page = await store.listEvents({
      from: req.from,
      to: req.to,
      eventType: req.eventType,
      deviceId: req.deviceId,
      order: "asc",
      after,
      limit: pageSize,
    });
    if (page.length === 0) return;
    const kept = maxSeq === Infinity ? page : page.filter((e) => e.seq <= maxSeq);
    if (kept.length) yield kept;
    if (page.length < pageSize) return;
    const last = page[page.length - 1];
    after = { timestamp: last.timestamp, seq: last.seq };
  }
}

async function* rollupPages(
  store: Store,
  req: ExportRequest,
  pageSize: number,
): AsyncGenerator<RollupRecord[]> {
  let after: { eventType: string; deviceId: string | null; start: number } | undefined;
  for (;;) {
    const page = await store.storage.scanRollups({
      resolution: req.resolution!,
      from: req.from,
      to: req.to,
      eventType: req.eventType,
      deviceId: req.deviceId,
      after,
      limit: pageSize,
    });
    if (page.length) yield page;
    if (page.length < pageSize) return;
    const last = page[page.length - 1];
    after = { eventType: last.eventType, deviceId: last.deviceId, start: last.start };
  }
}

/**
 * The CSV columns of the events in range (a first pass): the first `MAX_CSV_METADATA_KEYS`
 * distinct metadata keys in export order get a column each (sorted by name); a key beyond them, or
 * named like a fixed column, goes into the JSON `metadata` column, which is there only when some
 * event has such a key. Also the highest seq the pass saw: the second pass stops there, so an event
 * committed in between (perhaps with a new key) is not written without its column. Memory: at most
 * `MAX_CSV_METADATA_KEYS` keys, whatever the range.
 */
async function csvColumns(
  store: Store,
  req: ExportRequest,
): Promise<{ keys: string[]; spill: boolean; maxSeq: number }> {
  const keys = new Set<string>();
  let spill = false;
  let maxSeq = 0;
  for await (const page of eventPages(store, req, EXPORT_PAGE)) {
    for (const e of page) {
      maxSeq = Math.max(maxSeq, e.seq);
      for (const k in e.metadata) {
        if (keys.has(k)) continue;
        if (keys.size < MAX_CSV_METADATA_KEYS && !EVENT_CSV_FIXED.has(k)) keys.add(k);
        else spill = true;
      }
    }
  }
  return { keys: [...keys].sort(), spill, maxSeq };
}

/** The export as a byte stream. CSV of events first reads the range once for its metadata columns. */
export async function exportStream(
  store: Store,
  req: ExportRequest,
  options: ExportOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  const pageSize = options.pageSize ?? EXPORT_PAGE;
  const onError = options.onError ?? (() => {});
  if (req.source === "events") {
    if (req.format === "csv") {
      const { keys, spill, maxSeq } = await csvColumns(store, req);
      return pagedStream(eventPages(store, req, pageSize, maxSeq), eventCsvEncoder(keys, spill), onError);
    }
    const encoder: PageEncoder<StoredEvent> = req.format === "ndjson"
      ? ndjsonEncoder(eventRecord)
      : parquetEncoder(EVENT_PARQUET_COLUMNS);
    return pagedStream(eventPages(store, req, pageSize), encoder, onError);
  }
  const encoder: PageEncoder<RollupRecord> = req.format === "ndjson"
    ? ndjsonEncoder(rollupRecord)
    : req.format === "csv"
    ? csvEncoder(ROLLUP_COLUMNS, (r) => {
      const rec = rollupRecord(r);
      return ROLLUP_COLUMNS.map((c) => rec[c]);
    })
    : parquetEncoder(ROLLUP_PARQUET_COLUMNS);
  return pagedStream(rollupPages(store, req, pageSize), encoder, onError);
}

/**
 * Pulls pages into the encoder. If reading or encoding fails part-way, the encoder's failure marker
 * goes out as the last bytes and then the stream errors (an HTTP response ends without its final
 * chunk, a cold export's file is not kept), so a short output is never taken for a whole one.
 */
function pagedStream<T>(
  pages: AsyncGenerator<T[]>,
  encoder: PageEncoder<T>,
  onError: (error: unknown, records: number) => void,
): ReadableStream<Uint8Array> {
  let records = 0;
  let pulled = false;
  const pacer = new StepPacer();
  let failure: { error: unknown } | null = null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (failure) {
        controller.error(failure.error);
        return;
      }
      // One page per pull: the stream asks again only when its queue has room.
      try {
        for (;;) {
          // Commits and requests queued while the last page was read and encoded run first: with a
          // driver that answers on this thread, an export never left the microtask queue otherwise,
          // and a cold export held every commit until it ended (529 ms for a 30 k-event day). A timer
          // turn at most every few ms (StepPacer): on Deno only a timer lets sockets be polled at once.
          if (pulled) await pacer.pace();
          pulled = true;
          const next = await pages.next();
          if (next.done) {
            const tail = encoder.end();
            if (tail.length) controller.enqueue(tail);
            controller.close();
            return;
          }
          const bytes = encoder.page(next.value);
          records += next.value.length;
          if (bytes.length) {
            controller.enqueue(bytes);
            return;
          }
        }
      } catch (error) {
        failure = { error };
        onError(error, records);
        const marker = encoder.fail(records);
        if (marker.length) controller.enqueue(marker);
        else controller.error(error);
      }
    },
    async cancel() {
      await pages.return(undefined);
    },
  }, { highWaterMark: 1 });
}
