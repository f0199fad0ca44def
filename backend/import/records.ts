/**
 * What every import format produces: records, each one input line (NDJSON),
 * data row (CSV) or array element (JSON) with its position, parsed into the
 * value the event validator checks. A record that cannot be parsed carries an
 * `UnparsableMarker` and is rejected with its line number, like a bad event.
 */
import { PayloadTooLargeError } from "../errors.ts";
import { UnparsableMarker } from "../ingest/ingest-service.ts";

/** Longest line (NDJSON), row (CSV) or element (JSON) an import accepts, bytes. */
export const MAX_LINE_BYTES = 1024 * 1024;

/** One input record. */
export interface ImportRecord {
  /** 1-based line of the input (a JSON element: the line it starts on; a CSV row: the line it ends on). */
  line: number;
  /** 0-based element index, JSON arrays only. */
  index?: number;
  /** The parsed value, or why it could not be parsed. */
  item: unknown;
  /** Input bytes of the record (bounds the memory of a batch). */
  size: number;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Parses one JSON text from `bytes`; never throws. */
export function parseJsonBytes(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return new UnparsableMarker("line is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch {
    return new UnparsableMarker("line is not valid JSON");
  }
}

/** The 413 for a record over `MAX_LINE_BYTES`. */
export function lineTooLong(line: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`Line ${line} is longer than ${MAX_LINE_BYTES} bytes`, "body");
}

/** Joins `parts` (whose sizes add up to `total`) into one array. */
export function concatBytes(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}
