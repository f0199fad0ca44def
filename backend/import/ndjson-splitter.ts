/**
 * Splits NDJSON bytes into records, one per non-blank line, incrementally:
 * `feed` takes chunks as they arrive (lines may span chunks), `end` flushes a
 * last line without a newline. At most one line is held in memory, and a line
 * over `MAX_LINE_BYTES` is refused (413) before it is buffered whole.
 */
import { concatBytes, type ImportRecord, lineTooLong, MAX_LINE_BYTES, parseJsonBytes } from "./records.ts";

const NEWLINE = 0x0a;

export class NdjsonSplitter {
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #line = 0;

  /** The records of every line completed by `chunk`. */
  feed(chunk: Uint8Array): ImportRecord[] {
    const out: ImportRecord[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      this.#emit(this.#take(chunk.subarray(start, nl)), out);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.#pendingBytes + rest.byteLength > MAX_LINE_BYTES) throw lineTooLong(this.#line + 1);
      this.#pending.push(rest);
      this.#pendingBytes += rest.byteLength;
    }
    return out;
  }

  /** The record of a last line without a trailing newline, if any. */
  end(): ImportRecord[] {
    const out: ImportRecord[] = [];
    if (this.#pendingBytes > 0) this.#emit(this.#take(new Uint8Array(0)), out);
    return out;
  }

  #take(tail: Uint8Array): Uint8Array {
    const total = this.#pendingBytes + tail.byteLength;
    if (total > MAX_LINE_BYTES) throw lineTooLong(this.#line + 1);
    const bytes = this.#pending.length === 0 ? tail : concatBytes([...this.#pending, tail], total);
    this.#pending = [];
    this.#pendingBytes = 0;
    return bytes;
  }

  #emit(bytes: Uint8Array, out: ImportRecord[]): void {
    this.#line++;
    if (isBlank(bytes)) return;
    out.push({ line: this.#line, item: parseJsonBytes(bytes), size: bytes.byteLength });
  }
}

function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) {
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  }
  return true;
}
