/**
 * Encoders of exported pages: NDJSON, CSV and Parquet (`hyparquet-writer`,
 * columnar, Snappy-compressed, one row group per page). Each encoder turns one
 * page of records into bytes, so an export holds one page in memory whatever
 * its size. Events are written in the ingest schema (id, deviceId, eventType,
 * value, timestamp, metadata, data), so an NDJSON export re-imports as is.
 */
import { ByteWriter, ParquetWriter, schemaFromColumnData } from "hyparquet-writer";
import type { StoredEvent } from "../../shared/event.ts";
import type { RollupRecord } from "../store/store.ts";

export type ExportFormat = "ndjson" | "csv" | "parquet";

/**
 * Turns pages of records into bytes; `end` returns the trailer (Parquet's footer); `fail` the
 * last bytes of an export that failed after `records` records (a visible marker where the format
 * has room for one; a Parquet file without its footer is unreadable anyway).
 */
export interface PageEncoder<T> {
  page(records: readonly T[]): Uint8Array;
  end(): Uint8Array;
  fail(records: number): Uint8Array;
}

/** What the marker of a failed export says (no internals: the cause goes to the server's log). */
export function failureText(records: number): string {
  return `export failed after ${records} records; this output is incomplete`;
}

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** An event as the ingest API takes it (no store-assigned fields, no nulls). */
export function eventRecord(e: StoredEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { id: e.id, deviceId: e.deviceId, eventType: e.eventType };
  if (e.value !== null) out.value = e.value;
  out.timestamp = e.timestamp;
  if (e.metadata !== null) out.metadata = e.metadata;
  if (e.data !== null) out.data = e.data;
  return out;
}

/** A rollup bucket's scalar state (sketches are not exported). */
export function rollupRecord(r: RollupRecord): Record<string, string | number | null> {
  const s = r.state;
  return {
    eventType: r.eventType,
    deviceId: r.deviceId,
    resolution: r.resolution,
    start: r.start,
    count: s.count,
    valueCount: s.valueCount,
    sum: s.sum,
    min: s.min,
    max: s.max,
    lastValue: s.lastValue,
    lastTs: s.lastTs,
    minTs: s.minTs,
    maxTs: s.maxTs,
  };
}

export const ROLLUP_COLUMNS = [
  "eventType",
  "deviceId",
  "resolution",
  "start",
  "count",
  "valueCount",
  "sum",
  "min",
  "max",
  "lastValue",
  "lastTs",
  "minTs",
  "maxTs",
] as const;

export function ndjsonEncoder<T>(toRecord: (r: T) => unknown): PageEncoder<T> {
  return {
    page: (records) => utf8.encode(records.map((r) => JSON.stringify(toRecord(r)) + "\n").join("")),
    end: () => EMPTY,
    fail: (records) => utf8.encode(JSON.stringify({ error: failureText(records) }) + "\n"),
  };
}

/**
 * RFC 4180 cell: quoted when it holds a comma, quote, line break or edge space. A text cell that
 * starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so a spreadsheet
 * shows it as text instead of running it as a formula (CSV injection); numbers are never changed.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text = typeof value === "string" ? value : String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** CSV with a header row; `cells` gives a record's cells in `header` order. */
export function csvEncoder<T>(header: readonly string[], cells: (r: T) => unknown[]): PageEncoder<T> {
  let started = false;
  return {
    page(records) {
      const lines = records.map((r) => cells(r).map(csvCell).join(",") + "\r\n");
      if (!started) {
        started = true;
        lines.unshift(header.map(csvCell).join(",") + "\r\n");
      }
      return utf8.encode(lines.join(""));
    },
    end: () => (started ? EMPTY : utf8.encode(header.map(csvCell).join(",") + "\r\n")),
    fail: (records) => utf8.encode(`#ERROR: ${failureText(records)}\r\n`),
  };
}

const EVENT_CSV_FIELDS = ["id", "deviceId", "eventType", "value", "timestamp"] as const;

/** Column names of an event CSV that are not metadata keys (a key named so goes to `metadata`). */
export const EVENT_CSV_FIXED: ReadonlySet<string> = new Set([...EVENT_CSV_FIELDS, "metadata"]);

/**
 * The CSV columns of events: the fixed fields, one column per key of `metadataKeys`, and with
 * `spill` a last `metadata` column: the event's other metadata as a JSON object (empty when none).
 */
export function eventCsvEncoder(metadataKeys: readonly string[], spill = false): PageEncoder<StoredEvent> {
  const columns = new Set(metadataKeys);
  const header = [...EVENT_CSV_FIELDS, ...metadataKeys];
  return csvEncoder(spill ? [...header, "metadata"] : header, (e) => {
    const cells: unknown[] = [
      e.id,
      e.deviceId,
      e.eventType,
      e.value,
      e.timestamp,
      ...metadataKeys.map((k) => e.metadata?.[k]),
    ];
    if (spill) cells.push(spilledMetadata(e.metadata, columns));
    return cells;
  });
}

/** The metadata without a column of its own, as JSON; undefined (an empty cell) when there is none. */
function spilledMetadata(
  metadata: StoredEvent["metadata"],
  columns: ReadonlySet<string>,
): string | undefined {
  if (metadata === null) return undefined;
  let rest: Record<string, unknown> | undefined;
  for (const k in metadata) {
    if (!columns.has(k)) (rest ??= {})[k] = metadata[k];
  }
  return rest && JSON.stringify(rest);
}

type ColumnType = "STRING" | "INT64" | "DOUBLE";
interface ColumnSpec<T> {
  name: string;
  type: ColumnType;
  get: (r: T) => string | number | null;
}

/** A writer whose bytes are taken after each row group (offsets stay absolute). */
class PageWriter extends ByteWriter {
  take(): Uint8Array {
    const bytes = this.getBytes().slice();
    this.index = 0;
    return bytes;
  }
}

export function parquetEncoder<T>(columns: readonly ColumnSpec<T>[]): PageEncoder<T> {
  const writer = new PageWriter();
  const columnData = (records: readonly T[]) =>
    columns.map((c) => ({
      name: c.name,
      type: c.type,
      nullable: true,
      data: records.map((r) => {
        const v = c.get(r);
        return v === null ? null : c.type === "INT64" ? BigInt(v) : v;
      }),
    }));
  const parquet = new ParquetWriter({
    writer,
    schema: schemaFromColumnData({ columnData: columnData([]) }),
    codec: "SNAPPY",
    createdBy: "pulsestream",
  });
  return {
    page(records) {
      if (records.length > 0) {
        parquet.write({ columnData: columnData(records), rowGroupSize: records.length });
      }
      return writer.take();
    },
    end() {
      parquet.finish();
      return writer.take();
    },
    fail: () => EMPTY,
  };
}

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

export const EVENT_PARQUET_COLUMNS: ColumnSpec<StoredEvent>[] = [
  { name: "id", type: "STRING", get: (e) => e.id },
  { name: "deviceId", type: "STRING", get: (e) => e.deviceId },
  { name: "eventType", type: "STRING", get: (e) => e.eventType },
  { name: "value", type: "DOUBLE", get: (e) => e.value },
  { name: "timestamp", type: "INT64", get: (e) => e.timestamp },
  { name: "receivedAt", type: "INT64", get: (e) => e.receivedAt },
  { name: "seq", type: "INT64", get: (e) => e.seq },
  { name: "metadata", type: "STRING", get: (e) => json(e.metadata) },
  { name: "data", type: "STRING", get: (e) => json(e.data) },
];

export const ROLLUP_PARQUET_COLUMNS: ColumnSpec<RollupRecord>[] = ROLLUP_COLUMNS.map((name) => ({
  name,
  type: name === "eventType" || name === "deviceId"
    ? "STRING"
    : name === "sum" || name === "min" || name === "max" || name === "lastValue"
    ? "DOUBLE"
    : "INT64",
  get: (r: RollupRecord) => rollupRecord(r)[name],
}));
