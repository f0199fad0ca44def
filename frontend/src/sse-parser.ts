/**
 * Incremental parser of a Server-Sent Events stream, as the HTML standard's
 * "event stream interpretation" reads it (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * lines end with CRLF, LF or CR; `field: value` (one space after the colon is
 * dropped); `data` lines join with "\n"; `event` names the frame (default
 * "message"); `id` sets the last event id, which stays for later frames until
 * another `id` line (one containing NUL is ignored); `retry` (ASCII digits
 * only) sets the reconnection delay; lines starting with `:` are comments;
 * other fields are ignored; a blank line ends a frame, and a frame without any
 * `data` line is not dispatched. Chunks may split a frame, a line or a CRLF
 * anywhere; an unfinished frame at the end of the stream is never dispatched.
 */

export interface SseFrame {
  /** The `event` field, or "message". */
  type: string;
  /** The last event id as a number (PulseStream's commit seq); 0 when it is absent or not a whole number. */
  seq: number;
  /** The `data` lines, joined with "\n". */
  data: string;
}

export class SseParser {
  /** The unfinished last line of the chunks so far. */
  #rest = "";
  /** The previous chunk ended with CR: a LF starting the next one belongs to it. */
  #afterCr = false;
  #type = "";
  #data: string[] = [];
  #lastId = "";
  #retryMs: number | null = null;

  constructor(private readonly onFrame: (frame: SseFrame) => void) {}

  /** The reconnection delay the server asked for with `retry`, ms; null until it does. */
  get retryMs(): number | null {
    return this.#retryMs;
  }

  /** Parses `chunk` (decoded text), dispatching every frame it completes, in order. */
  push(chunk: string): void {
    // Only an unfinished line is kept between chunks (a chunk may hold thousands of frames); after a
    // chunk that ended with CR nothing is kept, and a LF that follows is that CR's.
    const text = this.#rest + chunk;
    let start = this.#afterCr && text.startsWith("\n") ? 1 : 0;
    this.#afterCr = false;
    const eol = /\r\n|\r|\n/g;
    eol.lastIndex = start;
    for (let m = eol.exec(text); m !== null; m = eol.exec(text)) {
      this.#line(text, start, m.index);
      start = m.index + m[0].length;
      if (m[0] === "\r" && start === text.length) this.#afterCr = true;
    }
    this.#rest = text.slice(start);
  }

  /** Interprets the line `text[start, end)`. */
  #line(text: string, start: number, end: number): void {
    if (start === end) return this.#dispatch();
    if (text.charCodeAt(start) === 0x3a) return; // ":" a comment, e.g. ": ping"
    let colon = text.indexOf(":", start);
    if (colon < 0 || colon > end) colon = end;
    const field = text.slice(start, colon);
    let from = colon + 1;
    if (from < end && text.charCodeAt(from) === 0x20) from++;
    const value = colon === end ? "" : text.slice(from, end);
    switch (field) {
      case "event":
        this.#type = value;
        break;
      case "data":
        this.#data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.#lastId = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.#retryMs = Number(value);
        break;
    }
  }

  #dispatch(): void {
    const data = this.#data;
    const type = this.#type || "message";
    this.#data = [];
    this.#type = "";
    if (data.length === 0) return;
    const seq = /^[0-9]+$/.test(this.#lastId) ? Number(this.#lastId) : 0;
    this.onFrame({ type, seq, data: data.join("\n") });
  }
}
