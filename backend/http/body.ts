/**
 * Reads an ingest body with every limit enforced while streaming, so an
 * oversized body or a gzip bomb is stopped after at most `maxBodyBytes` of
 * inflated data, never buffered whole:
 * - `Content-Length` above the limit → 413 before reading anything;
 * - inflated bytes above the limit → 413 as soon as they are seen;
 * - more than `maxEventsPerRequest` events (NDJSON lines, or top-level JSON
 *   array elements, counted by a scanner that tracks strings and nesting) →
 *   413 as soon as the count is passed.
 * Uses only Web-standard streams (`DecompressionStream`), so it runs on Deno,
 * Node and edge runtimes alike.
 */
import type { DeadlineQueue } from "./deadlines.ts";
import {
  PayloadTooLargeError,
  RequestTimeoutError,
  UnsupportedMediaTypeError,
  ValidationError,
} from "../errors.ts";
import type { RequestLimits } from "../../shared/limits.ts";
import { UnparsableMarker } from "../ingest/ingest-service.ts";

/** The events of a request, before validation. */
export interface EventsPayload {
  /** `single`: the body was one JSON object (PulseStream's single-event form). */
  kind: "single" | "batch";
  /** Parsed items; an NDJSON line that is not JSON is an `UnparsableMarker`. */
  items: unknown[];
}

type Format = "json" | "ndjson";

const SMALL_BODY_BYTES = 64 * 1024;

/**
 * Reads and parses the events of `request`; the body must arrive within `deadlines.timeoutMs`
 * (else 408).
 */
export async function readEventsPayload(
  request: Request,
  limits: RequestLimits,
  deadlines: DeadlineQueue,
): Promise<EventsPayload> {
  const format = contentFormat(request.headers.get("content-type"));
  const counter = format === "json" ? new JsonArrayCounter() : new LineCounter();
  const text = await readWithin(request, deadlines, readLimitedText(request, counter, limits));
  return format === "json" ? parseJson(text) : parseNdjson(text);
}

/**
 * Reads a line-based text body (InfluxDB line protocol) with the same limits and deadline: at
 * most `maxBodyBytes` after decompression and `maxEventsPerRequest` non-blank lines (else 413),
 * gzip or identity, valid UTF-8. Any Content-Type is taken (clients send text/plain or none).
 */
export function readLinesText(
  request: Request,
  limits: RequestLimits,
  deadlines: DeadlineQueue,
): Promise<string> {
  return readWithin(request, deadlines, readLimitedText(request, new LineCounter(), limits, "lines"));
}

function readWithin(request: Request, deadlines: DeadlineQueue, reading: Promise<string>): Promise<string> {
  return deadlines.race(reading, () => {
    request.body?.cancel().catch(() => {});
    return new RequestTimeoutError(deadlines.timeoutMs);
  });
}

function contentFormat(contentType: string | null): Format {
  const type = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (type === "application/json") return "json";
  if (type === "application/x-ndjson" || type === "application/ndjson" || type === "application/jsonl") {
    return "ndjson";
  }
  throw new UnsupportedMediaTypeError(
    `Content-Type must be application/json or application/x-ndjson${type ? ` (got ${type})` : ""}`,
  );
}

async function readLimitedText(
  request: Request,
  counter: { feed(bytes: Uint8Array): number },
  limits: RequestLimits,
  unit: "events" | "lines" = "events",
): Promise<string> {
  const encoding = (request.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (encoding !== "identity" && encoding !== "gzip") {
    throw new UnsupportedMediaTypeError(
      `Content-Encoding must be gzip or absent (got ${encoding})`,
      "content-encoding",
    );
  }
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limits.maxBodyBytes) throw tooLarge(limits);
  if (!request.body) {
    throw new ValidationError("Request body is empty", [{ field: "body", message: "required" }]);
  }

  if (encoding === "identity" && declared <= SMALL_BODY_BYTES) {
    // Small bodies with a declared length are read in one call (half the cost of a reader loop);
    // the length bounds what can arrive, so the same limits hold.
    const bytes = new Uint8Array(await request.arrayBuffer());
    if (bytes.byteLength > limits.maxBodyBytes) throw tooLarge(limits);
    const events = counter.feed(bytes);
    // The whole body was counted, so the refused events are known (for the ingest metrics).
    if (events > limits.maxEventsPerRequest) throw Object.assign(tooManyEvents(limits, unit), { events });
    return decodeUtf8(bytes);
  }
  let stream: ReadableStream<Uint8Array> = request.body;
  if (encoding === "gzip") {
    stream = stream.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    );
  }
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        throw encoding === "gzip"
          ? new ValidationError("Request body is not valid gzip (corrupt or truncated)", [
            { field: "body", message: "invalid gzip stream" },
          ])
          : new ValidationError("Request body could not be read", [{
            field: "body",
            message: "read failed",
          }]);
      }
      if (chunk.done) break;
      total += chunk.value.byteLength;
      if (total > limits.maxBodyBytes) throw tooLarge(limits);
      if (counter.feed(chunk.value) > limits.maxEventsPerRequest) throw tooManyEvents(limits, unit);
      chunks.push(chunk.value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  }
  return decodeUtf8(concat(chunks, total));
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new ValidationError("Request body is not valid UTF-8", [{
      field: "body",
      message: "invalid UTF-8",
    }]);
  }
}

/**
 * How many events a 413 from `readEventsPayload` refused, when the whole body was counted (a
 * small body with a declared length); null when reading stopped part way (streamed bodies).
 */
export function refusedEventCount(error: unknown): number | null {
  const events = (error as { events?: unknown } | null)?.events;
  return error instanceof PayloadTooLargeError && typeof events === "number" ? events : null;
}

function tooManyEvents(limits: RequestLimits, unit: "events" | "lines" = "events"): PayloadTooLargeError {
  return new PayloadTooLargeError(
    `Too many ${unit}: at most ${limits.maxEventsPerRequest} per request`,
    unit,
  );
}

function tooLarge(limits: RequestLimits): PayloadTooLargeError {
  return new PayloadTooLargeError(`Request body exceeds ${limits.maxBodyBytes} bytes (after decompression)`);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

export function parseJson(text: string): EventsPayload {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError("Request body is not valid JSON", [{
      field: "body",
      message: "malformed JSON",
    }]);
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw noEvents();
    return { kind: "batch", items: value };
  }
  if (value !== null && typeof value === "object") return { kind: "single", items: [value] };
  throw new ValidationError("Request body must be an event object or an array of events", [
    { field: "body", message: "expected an object or an array" },
  ]);
}

export function parseNdjson(text: string): EventsPayload {
  const items: unknown[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      items.push(JSON.parse(line));
    } catch {
      items.push(new UnparsableMarker("line is not valid JSON"));
    }
  }
  if (items.length === 0) throw noEvents();
  return { kind: "batch", items };
}

function noEvents(): ValidationError {
  return new ValidationError("Request contains no events", [{ field: "body", message: "no events" }]);
}

/** Counts non-blank NDJSON lines seen so far. */
class LineCounter {
  #lines = 0;
  #lineHasContent = false;
  feed(bytes: Uint8Array): number {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b === 0x0a) {
        this.#lineHasContent = false;
      } else if (!this.#lineHasContent && b !== 0x20 && b !== 0x09 && b !== 0x0d) {
        this.#lineHasContent = true;
        this.#lines++;
      }
    }
    return this.#lines;
  }
}

/**
 * Counts the elements of a top-level JSON array seen so far (0 for any other
 * top-level value), tracking strings and escapes so that commas inside them or
 * inside nested values do not count. Malformed input is left to JSON.parse.
 */
class JsonArrayCounter {
  #depth = 0;
  #inString = false;
  #escaped = false;
  #topIsArray: boolean | null = null;
  #elements = 0;
  feed(bytes: Uint8Array): number {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (b === 0x5c) this.#escaped = true;
        else if (b === 0x22) this.#inString = false;
        continue;
      }
      if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
      if (this.#topIsArray === null) this.#topIsArray = b === 0x5b;
      if (this.#depth === 1 && this.#topIsArray && this.#elements === 0 && b !== 0x5d) this.#elements = 1;
      if (b === 0x22) this.#inString = true;
      else if (b === 0x5b || b === 0x7b) this.#depth++;
      else if (b === 0x5d || b === 0x7d) this.#depth--;
      else if (b === 0x2c && this.#depth === 1 && this.#topIsArray) this.#elements++;
    }
    return this.#elements;
  }
}
