/**
 * A parser of InfluxDB line protocol, as written by Telegraf and the InfluxDB
 * client libraries:
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * Escapes follow InfluxDB: `\,` and `\ ` in the measurement; `\,`, `\=` and
 * `\ ` in tag keys, tag values and field keys; `\"` and `\\` inside a quoted
 * string field (which may span lines). A backslash before any other character
 * is kept as it is. Field values are floats (`1`, `-1.5e3`), integers (`1i`),
 * unsigned integers (`1u`), strings (`"…"`) or booleans (`t`, `true`, `F`, …).
 * Blank lines and lines starting with `#` are skipped. The timestamp is kept
 * as its digits: its unit is the request's `precision`, applied by the caller.
 *
 * A bad line never stops the rest: it is reported with its 1-based line number
 * and InfluxDB's `unable to parse '<line>': <reason>` wording.
 */

/** A field value, typed as line protocol types it. */
export type FieldValue =
  | { kind: "float" | "integer" | "unsigned"; value: number }
  | { kind: "string"; value: string }
  | { kind: "boolean"; value: boolean };

/** One parsed point. */
export interface LinePoint {
  /** 1-based line number where the point starts. */
  line: number;
  /** The line's text, as sent (for content ids and error messages). */
  text: string;
  measurement: string;
  /** Tags in the order written (a key repeated keeps its last value). */
  tags: Map<string, string>;
  fields: Map<string, FieldValue>;
  /** Timestamp digits (optionally signed) in the request's precision; null when absent. */
  timestamp: string | null;
}

/** A line that could not be parsed. */
export interface LineError {
  line: number;
  message: string;
  /** The event field at fault, when the line parsed but its point broke an event limit. */
  field?: string;
}

/** The outcome of one body: points in order and bad lines in order. */
export interface ParsedLines {
  points: LinePoint[];
  errors: LineError[];
}

const NL = 10, CR = 13, SPACE = 32, TAB = 9, COMMA = 44, EQUALS = 61, QUOTE = 34, BACKSLASH = 92, HASH = 35;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+i$/;
const UNSIGNED = /^\d+u$/;
const TIMESTAMP = /^-?\d{1,19}$/;
const TRUE = new Set(["t", "T", "true", "True", "TRUE"]);
const FALSE = new Set(["f", "F", "false", "False", "FALSE"]);
/** Characters of a bad line quoted in its error message. */
const QUOTED_CHARS = 200;

class ParseFailure extends Error {}

/**
 * Parses every line of `text`. A line longer than `maxLineLength` characters is reported, not
 * parsed (the body as a whole is bounded by the caller).
 */
export function parseLineProtocol(text: string, options: { maxLineLength: number }): ParsedLines {
  const points: LinePoint[] = [];
  const errors: LineError[] = [];
  const parser = new LineParser(text);
  let line = 1;
  while (parser.pos < text.length) {
    const start = parser.pos;
    const first = parser.skipBlanks();
    const c = text.charCodeAt(first);
    if (first >= text.length) break;
    if (c === NL || c === HASH) {
      const end = lineEnd(text, first);
      parser.pos = end + 1;
      line++;
      continue;
    }
    let point: LinePoint | null = null;
    let message: string | null = null;
    try {
      point = parser.point(line, options.maxLineLength);
    } catch (error) {
      if (!(error instanceof ParseFailure)) throw error;
      message = error.message;
    }
    // A quoted string may have spanned lines; the next line number counts them.
    const end = point ? parser.pos : lineEnd(text, first);
    const quotedText = text.slice(first, Math.min(end, first + QUOTED_CHARS)).replace(/\r$/, "");
    if (point) points.push(point);
    else {
      errors.push({
        line,
        message: `unable to parse '${quotedText}${end - first > QUOTED_CHARS ? "…" : ""}': ${message}`,
      });
    }
    line += countNewlines(text, start, end);
    parser.pos = end + 1;
    line++;
  }
  return { points, errors };
}

function lineEnd(text: string, from: number): number {
  const end = text.indexOf("\n", from);
  return end < 0 ? text.length : end;
}

function countNewlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf("\n", from); i >= 0 && i < to; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

class LineParser {
  pos = 0;
  constructor(readonly text: string) {}

  /** Moves past spaces, tabs and carriage returns; returns the new position. */
  skipBlanks(): number {
    const t = this.text;
    let i = this.pos;
    while (i < t.length) {
      const c = t.charCodeAt(i);
      if (c !== SPACE && c !== TAB && c !== CR) break;
      i++;
    }
    return this.pos = i;
  }

  /** Parses the point at `pos`; leaves `pos` at its line's end (the `\n` or the text's end). */
  point(line: number, maxLineLength: number): LinePoint {
    const t = this.text;
    const start = this.pos;
    const limitEnd = lineEnd(t, start);
    if (limitEnd - start > maxLineLength) fail(`line is longer than ${maxLineLength} characters`);
    const measurement = this.token(false);
    if (measurement === "") fail("missing measurement");
    const tags = new Map<string, string>();
    while (t.charCodeAt(this.pos) === COMMA) {
      this.pos++;
      const key = this.token(true);
      if (t.charCodeAt(this.pos) !== EQUALS) fail("missing tag value");
      this.pos++;
      const value = this.token(true);
      if (key === "") fail("missing tag key");
      if (value === "") fail("missing tag value");
      tags.set(key, value);
    }
    if (t.charCodeAt(this.pos) !== SPACE) fail("missing fields");
    while (t.charCodeAt(this.pos) === SPACE) this.pos++;
    const fields = new Map<string, FieldValue>();
    for (;;) {
      const key = this.token(true);
      if (key === "") fail("missing field key");
      if (t.charCodeAt(this.pos) !== EQUALS) fail(`missing field value of "${key}"`);
      this.pos++;
      fields.set(key, this.fieldValue(key));
      if (t.charCodeAt(this.pos) !== COMMA) break;
      this.pos++;
    }
    let timestamp: string | null = null;
    let contentEnd = this.pos;
    const c = t.charCodeAt(this.pos);
    if (c === SPACE || c === TAB) {
      this.skipBlanks();
      const from = this.pos;
      while (this.pos < t.length && !isBreak(t.charCodeAt(this.pos))) this.pos++;
      if (this.pos > from) {
        timestamp = t.slice(from, this.pos);
        if (!TIMESTAMP.test(timestamp)) fail(`bad timestamp "${timestamp.slice(0, 40)}"`);
        contentEnd = this.pos;
      }
      this.skipBlanks();
    } else if (c === CR) this.skipBlanks();
    if (this.pos < t.length && t.charCodeAt(this.pos) !== NL) fail("unexpected text after the timestamp");
    if (this.pos - start > maxLineLength) fail(`line is longer than ${maxLineLength} characters`);
    return { line, text: t.slice(start, contentEnd), measurement, tags, fields, timestamp };
  }

  /**
   * Reads up to an unescaped comma or space (and `=` when `stopAtEquals`), unescaping as it goes.
   * A line end also stops it.
   */
  token(stopAtEquals: boolean): string {
    const t = this.text;
    const start = this.pos;
    let i = start;
    let out: string | null = null;
    let from = start;
    while (i < t.length) {
      const c = t.charCodeAt(i);
      if (c === BACKSLASH && i + 1 < t.length) {
        const next = t.charCodeAt(i + 1);
        if (next === COMMA || next === SPACE || (next === EQUALS && stopAtEquals)) {
          out = (out ?? "") + t.slice(from, i);
          from = i + 1;
          i += 2;
          continue;
        }
        i++;
        continue;
      }
      if (c === COMMA || c === SPACE || c === NL || c === CR || c === TAB || (stopAtEquals && c === EQUALS)) {
        break;
      }
      i++;
    }
    this.pos = i;
    return out === null ? t.slice(start, i) : out + t.slice(from, i);
  }

  fieldValue(key: string): FieldValue {
    const t = this.text;
    if (t.charCodeAt(this.pos) === QUOTE) return { kind: "string", value: this.quoted(key) };
    const from = this.pos;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === COMMA || isBreak(c)) break;
      this.pos++;
    }
    const raw = t.slice(from, this.pos);
    if (raw === "") fail(`missing field value of "${key}"`);
    const last = raw.charCodeAt(raw.length - 1);
    if (last === 105 /* i */ && INTEGER.test(raw)) {
      return { kind: "integer", value: Number(raw.slice(0, -1)) };
    }
    if (last === 117 /* u */ && UNSIGNED.test(raw)) {
      return { kind: "unsigned", value: Number(raw.slice(0, -1)) };
    }
    if (FLOAT.test(raw)) return { kind: "float", value: Number(raw) };
    if (TRUE.has(raw)) return { kind: "boolean", value: true };
    if (FALSE.has(raw)) return { kind: "boolean", value: false };
    return fail(`invalid value of field "${key}": ${raw.slice(0, 40)}`);
  }

  /** A quoted string at `pos`: `\"` and `\\` unescaped; it may contain line breaks. */
  quoted(key: string): string {
    const t = this.text;
    let i = this.pos + 1;
    let out = "";
    let from = i;
    while (i < t.length) {
      const c = t.charCodeAt(i);
      if (c === BACKSLASH) {
        const next = t.charCodeAt(i + 1);
        if (next === QUOTE || next === BACKSLASH) {
          out += t.slice(from, i);
          from = i + 1;
          i += 2;
          continue;
        }
      } else if (c === QUOTE) {
        this.pos = i + 1;
        return out + t.slice(from, i);
      }
      i++;
    }
    return fail(`unterminated string in field "${key}"`);
  }
}

function isBreak(c: number): boolean {
  return c === SPACE || c === NL || c === CR || c === TAB;
}

function fail(message: string): never {
  throw new ParseFailure(message);
}
