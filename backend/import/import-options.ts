/**
 * What an import request asks for, read from its headers and query before any
 * byte of the body: the format (`Content-Type`), gzip (`Content-Encoding`), an
 * optional client-chosen job id (`Import-Id`, so a client can follow progress
 * while it uploads) and, for CSV, the column mapping. Anything unknown or
 * malformed is refused here (415 / 400 naming the header or parameter), so a
 * bad request never starts a job.
 */
import { z } from "zod";
import { UnsupportedMediaTypeError, ValidationError } from "../errors.ts";
import type { FieldError } from "../../shared/event-schema.ts";
import type { ImportJobRecord } from "../store/store.ts";
import type { CsvMapping, MappedColumn } from "./csv-records.ts";

/** A parsed import request. */
export interface ImportOptions {
  format: ImportJobRecord["format"];
  gzip: boolean;
  /** The `Import-Id` the client chose, or null for a server-generated one. */
  importId: string | null;
  /** CSV only. */
  csv: CsvMapping | null;
}

/** Job ids: `imp_` + 32 lowercase hex digits. */
export const IMPORT_ID_PATTERN = /^imp_[0-9a-f]{32}$/;

const FORMATS: Record<string, ImportOptions["format"]> = {
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "application/jsonl": "ndjson",
  "text/csv": "csv",
  "application/json": "json",
};

const MAX_COLUMN_NAME = 256;
const column = z.string().min(1, { error: "must not be empty" }).max(MAX_COLUMN_NAME, {
  error: `must be at most ${MAX_COLUMN_NAME} characters`,
});
const csvQuery = z.strictObject({
  deviceIdColumn: column.optional(),
  eventTypeColumn: column.optional(),
  valueColumn: column.optional(),
  timestampColumn: column.optional(),
  idColumn: column.optional(),
  metadataColumns: z.string().max(64 * MAX_COLUMN_NAME, { error: "is too long" }).optional(),
  eventType: z.string().min(1, { error: "must not be empty" }).optional(),
}, { error: (issue) => issue.code === "unrecognized_keys" ? "unknown parameter" : undefined });

/** Reads and checks the import options; `maxMetadataKeys` bounds `metadataColumns`. */
export function parseImportOptions(
  headers: Headers,
  query: Record<string, string>,
  limits: { maxMetadataKeys: number },
): ImportOptions {
  const type = (headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  const format = FORMATS[type];
  if (!format) {
    throw new UnsupportedMediaTypeError(
      `Content-Type must be application/x-ndjson, text/csv or application/json${
        type ? ` (got ${type})` : ""
      }`,
    );
  }
  const encoding = (headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (encoding !== "identity" && encoding !== "gzip") {
    throw new UnsupportedMediaTypeError(
      `Content-Encoding must be gzip or absent (got ${encoding.slice(0, 100)})`,
      "content-encoding",
    );
  }
  const importId = headers.get("import-id");
  if (importId !== null && !IMPORT_ID_PATTERN.test(importId)) {
    throw new ValidationError("Invalid Import-Id header", [
      { field: "import-id", message: "must be imp_ followed by 32 lowercase hex digits" },
    ]);
  }
  const csv = format === "csv" ? csvMapping(query, limits.maxMetadataKeys) : noQuery(query);
  return { format, gzip: encoding === "gzip", importId, csv };
}

function noQuery(query: Record<string, string>): null {
  const names = Object.keys(query);
  if (names.length === 0) return null;
  throw new ValidationError(
    "Invalid query parameters",
    names.map((field) => ({ field, message: "only applies to text/csv imports" })),
  );
}

function csvMapping(query: Record<string, string>, maxMetadataKeys: number): CsvMapping {
  const parsed = csvQuery.safeParse(query);
  if (!parsed.success) {
    throw new ValidationError(
      "Invalid query parameters",
      parsed.error.issues.flatMap((i): FieldError[] =>
        i.code === "unrecognized_keys"
          ? i.keys.map((k) => ({ field: k, message: "unknown parameter" }))
          : [{ field: i.path.join("."), message: i.message }]
      ),
    );
  }
  const q = parsed.data;
  if (q.eventType !== undefined && q.eventTypeColumn !== undefined) {
    throw new ValidationError("Invalid query parameters", [
      { field: "eventType", message: "give eventType (one type for every row) or eventTypeColumn, not both" },
    ]);
  }
  const metadata = (q.metadataColumns ?? "").split(",").map((c) => c.trim()).filter(Boolean);
  const badMetadata = metadata.length > maxMetadataKeys
    ? `at most ${maxMetadataKeys} columns`
    : new Set(metadata).size !== metadata.length
    ? "a column is listed twice"
    : metadata.find((c) => c.length > MAX_COLUMN_NAME)
    ? `column names must be at most ${MAX_COLUMN_NAME} characters`
    : null;
  if (badMetadata) {
    throw new ValidationError("Invalid query parameters", [{
      field: "metadataColumns",
      message: badMetadata,
    }]);
  }
  const mapped = (given: string | undefined, name: string): MappedColumn =>
    given === undefined ? { column: name, explicit: false } : { column: given, explicit: true };
  return {
    deviceId: mapped(q.deviceIdColumn, "deviceId"),
    eventType: q.eventType === undefined ? mapped(q.eventTypeColumn, "eventType") : null,
    eventTypeConstant: q.eventType ?? null,
    value: mapped(q.valueColumn, "value"),
    timestamp: mapped(q.timestampColumn, "timestamp"),
    id: mapped(q.idColumn, "id"),
    metadata,
  };
}
