/**
 * JSON text written straight into UTF-8 byte chunks, for answers too large to
 * build as objects and `JSON.stringify` (a day of minutes for 1,000 devices is
 * 5.76 M numbers): numeric columns go from typed arrays to bytes with no boxed
 * number, no intermediate string and no re-encoding.
 *
 * Numbers are written exactly as `JSON.stringify` writes them (the shortest
 * text that reads back as the same double; NaN and ±Infinity as null). Most
 * metric values are integers or short decimals, which are formatted here with
 * integer arithmetic; any other value falls back to the engine's `String()`.
 */

const encoder = new TextEncoder();
/** Room for the longest number text ("-1.2345678901234567e-308", 24 bytes) or "null", and a comma. */
const NUMBER_ROOM = 32;
/** Exact powers of ten (every 10^k with k <= 22 is a double). */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));
/** Below this, a decimal with at most 15 significant digits is the only one that reads back as its double. */
const EXACT_DIGITS_LIMIT = 1e15;

/** Builds JSON text as a list of byte chunks (about `chunkBytes` each), taken as they fill up. */
export class JsonChunkWriter {
  readonly #chunkBytes: number;
  #done: Uint8Array[] = [];
  #buf: Uint8Array;
  #pos = 0;

  constructor(options: { chunkBytes?: number } = {}) {
    this.#chunkBytes = Math.max(NUMBER_ROOM * 2, options.chunkBytes ?? 64 * 1024);
    this.#buf = new Uint8Array(this.#chunkBytes);
  }

  /** Writes `text` as it is: punctuation, or text that is already valid JSON. */
  raw(text: string): this {
    let { read, written } = encoder.encodeInto(text, this.#buf.subarray(this.#pos));
    this.#pos += written;
    while (read < text.length) {
      this.#next();
      ({ read, written } = encoder.encodeInto(text.slice(read), this.#buf));
      this.#pos = written;
    }
    return this;
  }

  /** Writes `value` as `JSON.stringify` does (for strings, small objects and the like). */
  value(value: unknown): this {
    return this.raw(JSON.stringify(value) ?? "null");
  }

  /** Writes one number as `JSON.stringify` does. */
  number(value: number): this {
    if (this.#pos + NUMBER_ROOM > this.#buf.length) this.#next();
    this.#pos = writeNumber(this.#buf, this.#pos, value);
    return this;
  }

  /** Writes `values` as a JSON array of numbers, as `JSON.stringify` does (NaN, ±Infinity: null). */
  numbers(values: ArrayLike<number>): this {
    let buf = this.#buf;
    let pos = this.#pos;
    const n = values.length;
    for (let i = 0; i < n; i++) {
      if (pos + NUMBER_ROOM > buf.length) {
        this.#pos = pos;
        this.#next();
        buf = this.#buf;
        pos = 0;
      }
      buf[pos++] = i === 0 ? 0x5b : 0x2c; // "[" or ","
      pos = writeNumber(buf, pos, values[i]);
    }
    this.#pos = pos;
    return this.raw(n === 0 ? "[]" : "]");
  }

  /** The chunks filled so far; they leave the writer (for streaming while writing goes on). */
  take(): Uint8Array[] {
    return this.#done.splice(0);
  }

  /** Every byte not taken yet, as chunks; the writer starts over empty. */
  end(): Uint8Array[] {
    this.#next();
    return this.take();
  }

  #next(): void {
    if (this.#pos > 0) this.#done.push(this.#buf.subarray(0, this.#pos));
    this.#buf = new Uint8Array(this.#chunkBytes);
    this.#pos = 0;
  }
}

/**
 * Writes `v` at `buf[pos]` as `JSON.stringify` would and returns the position after it. The
 * caller leaves `NUMBER_ROOM` bytes.
 */
export function writeNumber(buf: Uint8Array, pos: number, v: number): number {
  if (v - v !== 0) return writeAscii(buf, pos, "null"); // NaN and ±Infinity
  if (v === 0) {
    buf[pos] = 0x30; // also -0, which JSON writes as 0
    return pos + 1;
  }
  const a = v < 0 ? -v : v;
  // Fixed notation ("123.45", "0.000001") is what ECMAScript writes from 1e-6 up to 1e21.
  if (a >= 1e-6 && a < EXACT_DIGITS_LIMIT) {
    if (v < 0) buf[pos++] = 0x2d; // "-"
    if (Math.floor(a) === a) return writeInteger(buf, pos, a);
    // The fewest decimals k whose rounding m / 10^k reads back as `a`. With at most 15
    // significant digits only one such decimal exists and the first k found has the fewest
    // digits, so this is the text ECMAScript's Number::toString picks. Longer ones: String().
    for (let k = 1; k < POW10.length; k++) {
      const scale = POW10[k];
      const m = Math.round(a * scale);
      if (m >= EXACT_DIGITS_LIMIT) break;
      if (m / scale === a) return writeDecimal(buf, pos, m, k);
    }
    return writeAscii(buf, pos, String(a));
  }
  return writeAscii(buf, pos, String(v));
}

/** A non-negative integer below 1e15, in decimal digits. */
function writeInteger(buf: Uint8Array, pos: number, m: number): number {
  let digits = 1;
  while (digits < 16 && m >= POW10[digits]) digits++;
  const end = pos + digits;
  for (let i = end - 1; i >= pos; i--) {
    const q = Math.floor(m / 10);
    buf[i] = 0x30 + (m - q * 10);
    m = q;
  }
  return end;
}

/** m / 10^k in fixed notation (m below 1e15, k >= 1, m not a multiple of 10). */
function writeDecimal(buf: Uint8Array, pos: number, m: number, k: number): number {
  let digits = 1;
  while (digits < 16 && m >= POW10[digits]) digits++;
  if (digits <= k) {
    // 0.00ddd
    buf[pos++] = 0x30;
    buf[pos++] = 0x2e;
    for (let z = digits; z < k; z++) buf[pos++] = 0x30;
    return writeInteger(buf, pos, m);
  }
  const end = pos + digits + 1;
  for (let i = end - 1, written = 0; i >= pos; i--, written++) {
    if (written === k) {
      buf[i] = 0x2e; // "."
      continue;
    }
    const q = Math.floor(m / 10);
    buf[i] = 0x30 + (m - q * 10);
    m = q;
  }
  return end;
}

function writeAscii(buf: Uint8Array, pos: number, text: string): number {
  for (let i = 0; i < text.length; i++) buf[pos++] = text.charCodeAt(i);
  return pos;
}
