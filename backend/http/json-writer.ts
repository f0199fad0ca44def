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
/** "00" to "99" as ASCII: two digits per step. */
const DIGIT_PAIRS = Uint8Array.from(
  { length: 200 },
  (_, i) => 0x30 + (i & 1 ? (i >> 1) % 10 : Math.floor((i >> 1) / 10)),
);
/** Dekker's splitter, 2^27 + 1, and 10^k split into two halves of 26 bits for error-free products. */
const SPLITTER = 134217729;
const POW10_HI = POW10.map((p) => SPLITTER * p - (SPLITTER * p - p));
const POW10_LO = POW10.map((p, k) => p - POW10_HI[k]);
/** Half a unit in the last place of a double with binary exponent e: 2^(e-53), e from 0 to 49. */
const HALF_ULP = Array.from({ length: 50 }, (_, e) => {
  let x = 1;
  for (let i = 0; i < 53; i++) x /= 2;
  for (let i = 0; i < e; i++) x *= 2;
  return x;
});

/** Builds JSON text as a list of byte chunks (about `chunkBytes` each), taken as they fill up. */
export class JsonChunkWriter {
  readonly #chunkBytes: number;
  #done: Uint8Array<ArrayBuffer>[] = [];
  #buf: Uint8Array<ArrayBuffer>;
  #pos = 0;

  constructor(options: { chunkBytes?: number } = {}) {
    this.#chunkBytes = Math.max(NUMBER_ROOM * 2, options.chunkBytes ?? 64 * 1024);
    this.#buf = new Uint8Array(this.#chunkBytes);
  }

  /** Writes `text` as it is: punctuation, or text that is already valid JSON. */
  raw(text: string): this {
    const first = encoder.encodeInto(text, this.#buf.subarray(this.#pos));
    this.#pos += first.written;
    // What did not fit goes into fresh chunks (encodeInto never splits a character).
    for (let read = first.read; read < text.length;) {
      this.#next();
      const more = encoder.encodeInto(text.slice(read), this.#buf);
      read += more.read;
      this.#pos = more.written;
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

  /** Bytes written and not taken yet. */
  get pending(): number {
    let n = this.#pos;
    for (const chunk of this.#done) n += chunk.length;
    return n;
  }

  /** The chunks filled so far; they leave the writer (for streaming while writing goes on). */
  take(): Uint8Array<ArrayBuffer>[] {
    return this.#done.splice(0);
  }

  /** Every byte not taken yet, as chunks; the writer starts over empty. */
  end(): Uint8Array<ArrayBuffer>[] {
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
  const int = v | 0;
  if (int === v) return writeInt32(buf, pos, int); // counts and the like; -0 too, which JSON writes as 0
  if (v - v !== 0) return writeAscii(buf, pos, "null"); // NaN and ±Infinity
  const a = v < 0 ? -v : v;
  // Fixed notation ("123.45", "0.000001") is what ECMAScript writes from 1e-6 up to 1e21.
  if (a >= 1 && a < EXACT_DIGITS_LIMIT) {
    if (v < 0) buf[pos++] = 0x2d; // "-"
    const whole = Math.floor(a);
    if (whole === a) return writeUnsigned(buf, pos, a, digitCount(a));
    // One decimal first (the commonest reading), then the general case (see writeFraction).
    const tenths = Math.round(a * 10);
    if (tenths < 2147483648 && tenths / 10 === a) {
      const n = tenths | 0;
      const q = (n / 10) | 0;
      pos = writeUnsigned(buf, pos, q, digitCount(q));
      buf[pos] = 0x2e;
      buf[pos + 1] = 0x30 + n - q * 10;
      return pos + 2;
    }
    const end = writeFraction(buf, pos, a, whole);
    return end >= 0 ? end : writeAscii(buf, pos, String(a));
  }
  if (a >= 1e-6 && a < 1) {
    if (v < 0) buf[pos++] = 0x2d;
    // The fewest decimals k whose rounding m / 10^k reads back as `a` (see writeFraction).
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

/**
 * `a` (1 <= a < 1e15, not an integer; `whole` is its integer part) as the text ECMAScript's
 * Number::toString gives: the fewest significant digits that read back as `a`, the closest to
 * `a` if several. Returns the end position, or -1 where it cannot decide cheaply (within 1e-9
 * of a rounding tie), for the caller to use String().
 *
 * 15 digits: m = a × 10^k rounded, k giving 15 significant digits. Decimals of 15 digits are
 * further apart than a double's rounding interval, so if m / 10^k reads back as `a` it is the
 * only one, and with its trailing zeros removed the shortest. Otherwise 16 or 17 digits are
 * needed: the exact remainder ρ = a × 10^k − m (from an error-free product) gives the nearest
 * 16-digit decimal, 10m + round(10ρ), which reads back as `a` exactly when it is less than half
 * a unit in the last place of `a` away; if not, the nearest 17-digit one, 100m + round(100ρ),
 * always does.
 */
function writeFraction(buf: Uint8Array, pos: number, a: number, whole: number): number {
  const intDigits = digitCount(whole);
  let k = 15 - intDigits;
  const scale = POW10[k];
  const product = a * scale;
  let m = Math.round(product);
  if (m / scale === a) {
    // Drop trailing zeros, 8, 4, 2 and 1 at a time: m / 10^j is an integer exactly when 10^j
    // divides m (below 1e15 a remainder is too large a fraction of the quotient to round away).
    for (let j = 8; j >= 1; j >>= 1) {
      const q = m / POW10[j];
      if (Math.floor(q) === q) {
        m = q;
        k -= j;
      }
    }
    return writeDecimal(buf, pos, m, k);
  }
  const rho = (product - m) + productError(a, k, product);
  // a's binary exponent e (a >= 1, so that of its integer part) and half its ulp, 2^(e-53),
  // in units of the 16th significant digit.
  const e = whole < 4294967296 ? 31 - Math.clz32(whole) : 63 - Math.clz32(Math.floor(whole / 4294967296));
  const half16 = HALF_ULP[e] * POW10[k + 1];
  const r16 = rho * 10;
  const t16 = Math.round(r16);
  const off16 = Math.abs(t16 - r16);
  if (Math.abs(off16 - half16) < 1e-9 || Math.abs(off16 - 0.5) < 1e-9) return -1;
  const sixteen = off16 < half16;
  const r = sixteen ? r16 : rho * 100;
  const t = sixteen ? t16 : Math.round(r);
  if (!sixteen && Math.abs(Math.abs(t - r) - 0.5) < 1e-9) return -1;
  // 15 digits of mm, then the tail's 1 or 2, carrying a negative or overflowing tail into mm.
  const unit = sixteen ? 10 : 100;
  const carry = t < 0 ? -1 : t >= unit ? 1 : 0; // |t| is at most a unit and a half
  const mm = m + carry;
  const tail = t - carry * unit;
  if (mm < 1e14 || mm >= EXACT_DIGITS_LIMIT || (tail | 0) % 10 === 0) return -1; // 32-bit %: no fmod
  // mm's integer part is `whole`, or one more where rounding carried into it.
  let frac = mm - whole * scale;
  let intPart = whole;
  if (frac >= scale) {
    frac -= scale;
    intPart++;
  }
  pos = writeUnsigned(buf, pos, intPart, digitCount(intPart));
  buf[pos++] = 0x2e; // "."
  if (k > 0) pos = writeUnsigned(buf, pos, frac, k);
  return writeUnsigned(buf, pos, tail, sixteen ? 1 : 2);
}

/** The rounding error of `product` = fl(a × 10^k): a × 10^k − product, exactly (Dekker). */
function productError(a: number, k: number, product: number): number {
  const c = SPLITTER * a;
  const ah = c - (c - a);
  const al = a - ah;
  const bh = POW10_HI[k];
  const bl = POW10_LO[k];
  return ((ah * bh - product) + ah * bl + al * bh) + al * bl;
}

/** Decimal digits of a non-negative integer below 1e15. */
function digitCount(m: number): number {
  if (m < 1e5) return m < 10 ? 1 : m < 100 ? 2 : m < 1000 ? 3 : m < 1e4 ? 4 : 5;
  let digits = 6;
  while (digits < 15 && m >= POW10[digits]) digits++;
  return digits;
}

/** A 32-bit integer in decimal. */
function writeInt32(buf: Uint8Array, pos: number, n: number): number {
  if (n >= 0 && n < 10) {
    buf[pos] = 0x30 + n;
    return pos + 1;
  }
  if (n < 0) {
    buf[pos++] = 0x2d; // "-"
    n = -n; // 2^31 for the smallest int32: writeUnsigned takes it as a double
  }
  return writeUnsigned(buf, pos, n, digitCount(n));
}

/** m / 10^k in fixed notation (m a positive integer below 1e15, k >= 1). */
function writeDecimal(buf: Uint8Array, pos: number, m: number, k: number): number {
  const digits = digitCount(m);
  if (digits <= k) {
    // 0.00ddd
    buf[pos++] = 0x30;
    buf[pos++] = 0x2e;
    for (let z = digits; z < k; z++) buf[pos++] = 0x30;
    return writeUnsigned(buf, pos, m, digits);
  }
  // Below 1e15 the quotient is exact enough that its floor is the integer part.
  const intPart = Math.floor(m / POW10[k]);
  pos = writeUnsigned(buf, pos, intPart, digits - k);
  buf[pos++] = 0x2e; // "."
  return writeUnsigned(buf, pos, m - intPart * POW10[k], k);
}

/**
 * A non-negative integer below 1e15 as exactly `digits` decimal digits (zero-padded), in 32-bit
 * arithmetic (whose division by 10 compiles to a multiplication).
 */
function writeUnsigned(buf: Uint8Array, pos: number, m: number, digits: number): number {
  const end = pos + digits;
  let i = end;
  if (m >= 2147483648) {
    // m = high × 1e8 + low, by a multiplication (corrected by one where it rounded) not a division.
    let high = Math.floor(m * 1e-8);
    let rest = m - high * 1e8;
    if (rest < 0) {
      high--;
      rest += 1e8;
    } else if (rest >= 1e8) {
      high++;
      rest -= 1e8;
    }
    i = writePairs(buf, i, rest | 0, 4);
    m = high;
  }
  let n = m | 0;
  // Two digits per division: half the dependent steps of one at a time.
  for (; i - 2 >= pos; i -= 2) {
    const q = (n / 100) | 0;
    const r = (n - q * 100) << 1;
    buf[i - 2] = DIGIT_PAIRS[r];
    buf[i - 1] = DIGIT_PAIRS[r + 1];
    n = q;
  }
  if (i > pos) buf[pos] = 0x30 + n;
  return end;
}

/** The last `pairs` × 2 digits of the 32-bit `n`, ending before `end`; returns where they start. */
function writePairs(buf: Uint8Array, end: number, n: number, pairs: number): number {
  let i = end;
  for (let p = 0; p < pairs; p++, i -= 2) {
    const q = (n / 100) | 0;
    const r = (n - q * 100) << 1;
    buf[i - 2] = DIGIT_PAIRS[r];
    buf[i - 1] = DIGIT_PAIRS[r + 1];
    n = q;
  }
  return i;
}

function writeAscii(buf: Uint8Array, pos: number, text: string): number {
  for (let i = 0; i < text.length; i++) buf[pos++] = text.charCodeAt(i);
  return pos;
}
