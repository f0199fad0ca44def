/**
 * CSV rows as event records, with `csv-parse`'s streaming parser (Web
 * `TransformStream`), so a file of any size is parsed with the memory of a few
 * rows. The first row is the header; `CsvMapping` names the columns that hold
 * each event field. Rows become event objects for the usual validator:
 * - `value`: a number when the cell is numeric, else the text (which the
 *   validator then rejects); an empty cell means no value.
 * - `timestamp`: digits are epoch ms, anything else is passed on as ISO-8601.
 * - `id`: kept when not empty.
 * - metadata columns: a cell becomes a number only when it is the canonical
 *   text of a finite number (`42`, `-3.5`), so nothing is lost (`007`, `1.50`,
 *   `true` stay strings); empty cells are left out.
 * Columns that are not mapped are ignored.
 */
import { CsvError, parse } from "csv-parse/stream";
import { AppError, ValidationError } from "../errors.ts";
import { UnparsableMarker } from "../ingest/ingest-service.ts";
import type { FieldError } from "../../shared/event-schema.ts";
import { unreadable } from "./body-source.ts";
import { type ImportRecord, lineTooLong, MAX_LINE_BYTES } from "./records.ts";

/** A column name per event field; `explicit` when the client named it (a missing one is then an error). */
export interface MappedColumn {
  column: string;
  explicit: boolean;
}

/** How CSV columns map to event fields (built from query parameters by `parseImportOptions`). */
export interface CsvMapping {
  deviceId: MappedColumn;
  /** The type column, or null when every row gets `eventTypeConstant`. */
  eventType: MappedColumn | null;
  eventTypeConstant: string | null;
  value: MappedColumn;
  timestamp: MappedColumn;
  id: MappedColumn;
  /** Columns whose cells become metadata tags (named after the column). */
  metadata: string[];
}

type Field = "deviceId" | "eventType" | "value" | "timestamp" | "id";
type Indexes = Record<Field, number> & { metadata: [string, number][] };

interface ParsedRow {
  record: string[];
  info: { lines: number };
}

/** Reads `bytes` as CSV and yields the records of its data rows, in groups. */
export async function* csvRecords(
  bytes: ReadableStream<Uint8Array>,
  mapping: CsvMapping,
  gzip: boolean,
): AsyncGenerator<ImportRecord[]> {
  const rows = bytes.pipeThrough(
    parse({
      info: true,
      bom: true,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      max_record_size: MAX_LINE_BYTES,
    }) as TransformStream<Uint8Array, ParsedRow>,
  ).getReader();
  try {
    const first = await readRow(rows, gzip);
    if (first === null) return;
    const header = first.record;
    const indexes = resolveMapping(header, mapping);
    for (let row = await readRow(rows, gzip); row !== null; row = await readRow(rows, gzip)) {
      yield [toRecord(row, header.length, indexes, mapping.eventTypeConstant)];
    }
  } finally {
    rows.cancel().catch(() => {});
  }
}

async function readRow(
  rows: ReadableStreamDefaultReader<ParsedRow>,
  gzip: boolean,
): Promise<ParsedRow | null> {
  try {
    const next = await rows.read();
    return next.done ? null : next.value;
  } catch (error) {
    if (error instanceof AppError) throw error;
    if (!(error instanceof CsvError)) throw unreadable(gzip);
    const line = Number((error as unknown as { lines?: number }).lines) || 0;
    if (error.code === "CSV_MAX_RECORD_SIZE") throw lineTooLong(line);
    throw new ValidationError("Request body is not valid CSV", [{ field: "body", message: error.message }]);
  }
}

/** Column index of every mapped field (-1: not in the file); 400 naming the parameter when a mapping is wrong. */
function resolveMapping(header: readonly string[], mapping: CsvMapping): Indexes {
  const errors: FieldError[] = [];
  const shown = header.slice(0, 20).map((h) => JSON.stringify(h)).join(", ");
  const find = (column: string, param: string, required: boolean): number => {
    const i = header.indexOf(column);
    if (i === -1 && required) {
      errors.push({
        field: param,
        message: `column ${JSON.stringify(column)} is not in the header (${shown})`,
      });
    } else if (i !== -1 && header.indexOf(column, i + 1) !== -1) {
      errors.push({ field: param, message: `column ${JSON.stringify(column)} appears twice in the header` });
    }
    return i;
  };
  const mapped = (field: Field, c: MappedColumn | null, required = c?.explicit ?? false) =>
    c === null ? -1 : find(c.column, `${field}Column`, required);
  const indexes: Indexes = {
    deviceId: mapped("deviceId", mapping.deviceId, true),
    eventType: mapped("eventType", mapping.eventType, mapping.eventType !== null),
    value: mapped("value", mapping.value),
    timestamp: mapped("timestamp", mapping.timestamp),
    id: mapped("id", mapping.id),
    metadata: mapping.metadata.map((m) => [m, find(m, "metadataColumns", true)]),
  };
  if (errors.length) throw new ValidationError("CSV column mapping does not match the header", errors);
  return indexes;
}

function toRecord(
  row: ParsedRow,
  columns: number,
  at: Indexes,
  eventTypeConstant: string | null,
): ImportRecord {
  const cells = row.record;
  const line = row.info.lines;
  const size = cells.reduce((n, c) => n + c.length + 1, 0);
  if (cells.length !== columns) {
    return {
      line,
      size,
      item: new UnparsableMarker(`row has ${cells.length} columns, the header has ${columns}`),
    };
  }
  const item: Record<string, unknown> = {
    deviceId: cells[at.deviceId],
    eventType: eventTypeConstant ?? cells[at.eventType],
  };
  const cell = (i: number) => (i === -1 || cells[i] === "" ? undefined : cells[i]);
  const value = cell(at.value);
  if (value !== undefined) item.value = NUMERIC.test(value.trim()) ? Number(value) : value;
  const timestamp = cell(at.timestamp);
  if (timestamp !== undefined) item.timestamp = /^\d{1,16}$/.test(timestamp) ? Number(timestamp) : timestamp;
  const id = cell(at.id);
  if (id !== undefined) item.id = id;
  const tags: Record<string, string | number> = {};
  for (const [name, i] of at.metadata) {
    const text = cell(i);
    if (text !== undefined) tags[name] = String(Number(text)) === text ? Number(text) : text;
  }
  if (Object.keys(tags).length) item.metadata = tags;
  return { line, size, item };
}

const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
