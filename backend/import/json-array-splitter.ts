/**
 * Splits a top-level JSON array into records, one per element, incrementally
 * and without parsing the whole document: a byte scanner tracks strings,
 * escapes and nesting to find the commas that separate elements, and each
 * element is parsed on its own. So a multi-GB array needs the memory of one
 * element (at most `MAX_LINE_BYTES`, else 413). An element that is not valid
 * JSON is rejected on its own; a document that is not an array, is truncated,
 * or has data after the array fails the import (400).
 */
import { ValidationError } from "../errors.ts";
import { concatBytes, type ImportRecord, lineTooLong, MAX_LINE_BYTES, parseJsonBytes } from "./records.ts";

type State = "start" | "between" | "element" | "done";

const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const NEWLINE = 0x0a;

export class JsonArraySplitter {
  #state: State = "start";
  #depth = 0;
  #inString = false;
  #escaped = false;
  #parts: Uint8Array[] = [];
  #partBytes = 0;
  #line = 1;
  #elementLine = 1;
  #index = 0;

  /** The records of every element completed by `chunk`. */
  feed(chunk: Uint8Array): ImportRecord[] {
    const out: ImportRecord[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === NEWLINE) this.#line++;
      if (this.#state === "element") {
        if (!this.#endsElement(b)) continue;
        this.#emit(chunk.subarray(start, i), out);
        this.#state = b === COMMA ? "between" : "done";
        continue;
      }
      if (isSpace(b) || (this.#state === "start" && isBom(chunk, i))) continue;
      if (this.#state === "start" && b === OPEN_ARRAY) this.#state = "between";
      else if (this.#state === "between" && b === CLOSE_ARRAY) this.#state = "done";
      else if (this.#state === "between") {
        this.#state = "element";
        this.#elementLine = this.#line;
        start = i;
        i--; // scan this byte as the element's first
      } else throw this.#malformed();
    }
    if (this.#state === "element") {
      const rest = chunk.subarray(start);
      if (this.#partBytes + rest.byteLength > MAX_LINE_BYTES) throw lineTooLong(this.#elementLine);
      this.#parts.push(rest);
      this.#partBytes += rest.byteLength;
    }
    return out;
  }

  /** Checks that the array was closed. */
  end(): ImportRecord[] {
    if (this.#state === "done") return [];
    throw new ValidationError("Request body is not a complete JSON array", [{
      field: "body",
      message: this.#state === "start"
        ? "expected a JSON array"
        : "the array is not closed (truncated input?)",
    }]);
  }

  /** Tracks strings and nesting; true at the comma or bracket that ends the current element. */
  #endsElement(b: number): boolean {
    if (this.#inString) {
      if (this.#escaped) this.#escaped = false;
      else if (b === BACKSLASH) this.#escaped = true;
      else if (b === QUOTE) this.#inString = false;
      return false;
    }
    if (b === QUOTE) this.#inString = true;
    else if (b === OPEN_ARRAY || b === OPEN_OBJECT) this.#depth++;
    else if (this.#depth === 0) return b === COMMA || b === CLOSE_ARRAY;
    else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) this.#depth--;
    return false;
  }

  #emit(tail: Uint8Array, out: ImportRecord[]): void {
    const total = this.#partBytes + tail.byteLength;
    if (total > MAX_LINE_BYTES) throw lineTooLong(this.#elementLine);
    const bytes = concatBytes([...this.#parts, tail], total);
    this.#parts = [];
    this.#partBytes = 0;
    out.push({ line: this.#elementLine, index: this.#index++, item: parseJsonBytes(bytes), size: total });
  }

  #malformed(): ValidationError {
    const message = this.#state === "start"
      ? "expected a JSON array"
      : `unexpected data after the array on line ${this.#line}`;
    return new ValidationError("Request body is not a JSON array of events", [{ field: "body", message }]);
  }
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === NEWLINE || b === 0x0d || b === 0x09;
}

/** A UTF-8 byte-order mark (EF BB BF) at the start of the document. */
function isBom(chunk: Uint8Array, i: number): boolean {
  return chunk[i] === 0xef || chunk[i] === 0xbb || chunk[i] === 0xbf;
}
