/** Parsing of shared query parameters: times and keyset cursors. */
import type { FieldError } from "../../shared/event-schema.ts";
import { parseIsoDateTime, relativeTime } from "../../shared/time-units.ts";

const MAX_TIME_MS = 8.64e15;

/**
 * A time parameter: epoch ms, ISO-8601 (a real calendar date; hours 00-23), or `now` / `now-<n><unit>` (ms, s, m, h,
 * d, w). Returns epoch ms, or `undefined` when absent; adds an error when bad.
 */
export function parseTime(
  raw: string | undefined,
  field: string,
  now: number,
  errors: FieldError[],
): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  let ms: number | undefined;
  const rel = relativeTime(raw, now);
  if (/^\d{1,16}$/.test(raw)) ms = Number(raw);
  else if (rel !== null) ms = rel;
  else ms = parseIsoDateTime(raw, { dateOnly: true }) ?? undefined;
  // Beyond ±8.64e15 ms a Date is invalid (and so is every answer built from it).
  if (ms !== undefined && Number.isFinite(ms) && Math.abs(ms) <= MAX_TIME_MS) return ms;
  errors.push({
    field,
    message: ms !== undefined && !Number.isNaN(ms)
      ? `${field} is out of range (at most ${MAX_TIME_MS} ms from 1970)`
      : `${field} must be epoch ms, ISO-8601 or now-<n>(s|m|h|d|w)`,
  });
  return undefined;
}

/** An opaque keyset cursor for newest-first event pages. */
export function encodeCursor(position: { timestamp: number; seq: number }): string {
  return btoa(`${position.timestamp}.${position.seq}`).replace(/=+$/, "");
}

export function decodeCursor(
  cursor: string,
  errors: FieldError[],
): { timestamp: number; seq: number } | undefined {
  let decoded = "";
  try {
    decoded = atob(cursor);
  } catch {
    // falls through to the error below
  }
  const m = /^(\d{1,16})\.(\d{1,16})$/.exec(decoded);
  if (!m) {
    errors.push({ field: "cursor", message: "cursor is not valid (pass nextCursor from a previous page)" });
    return undefined;
  }
  return { timestamp: Number(m[1]), seq: Number(m[2]) };
}

const METADATA_KEY = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * `metadata.<key>=<value>` parameters as [key, value] pairs (a key may repeat). Bad keys and more
 * than `max` filters are reported in `errors`.
 */
export function metadataFilters(
  queries: Record<string, string[]>,
  max: number,
  errors: FieldError[],
): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, values] of Object.entries(queries)) {
    if (!name.startsWith("metadata.")) continue;
    const key = name.slice("metadata.".length);
    if (!METADATA_KEY.test(key)) {
      errors.push({ field: name, message: "metadata keys are 1-128 characters of A-Z a-z 0-9 _ . : -" });
      continue;
    }
    for (const v of values) out.push([key, v]);
  }
  if (out.length > max) errors.push({ field: "metadata", message: `at most ${max} metadata filters` });
  return out;
}
