/**
 * The live stream over Server-Sent Events, read with fetch so the key goes
 * in a header (EventSource cannot send one, and a key in the URL ends up in
 * logs). Messages are buffered and handed over at most once per animation
 * frame, in one batch, so a page renders once per frame however fast events
 * arrive; past `maxBuffered` per frame the oldest are dropped unparsed. Reconnects with backoff, resuming events after the last seq seen.
 */
import { storedKey } from "./api.ts";

export interface LiveMessage {
  type: string;
  seq: number;
  data: unknown;
}

export interface LiveOptions {
  channels: string[];
  deviceIds?: string[];
  eventTypes?: string[];
  /** Called with every message that arrived since the last frame. */
  onBatch(messages: LiveMessage[]): void;
  onStatus?(status: "connecting" | "open" | "error", detail?: string): void;
  /** Most messages kept between two frames (older ones are dropped and counted). */
  maxBuffered?: number;
}

export class LiveStream {
  #abort = new AbortController();
  /** Raw messages since the last frame; JSON is parsed only for those handed over. */
  #buffer: { type: string; seq: number; data: string }[] = [];
  #dropped = 0;
  #received = 0;
  #frame = 0;
  #lastSeq: number | null = null;
  #closed = false;

  constructor(private readonly options: LiveOptions) {
    void this.#run();
  }

  /** Messages received so far (handed over or dropped). */
  get received(): number {
    return this.#received;
  }

  /** Messages dropped because more than `maxBuffered` arrived within one frame. */
  get dropped(): number {
    return this.#dropped;
  }

  close(): void {
    this.#closed = true;
    this.#abort.abort();
    if (this.#frame) cancelAnimationFrame(this.#frame);
  }

  async #run(): Promise<void> {
    let backoff = 500;
    while (!this.#closed) {
      this.options.onStatus?.("connecting");
      try {
        await this.#connect();
        backoff = 500;
      } catch (error) {
        if (this.#closed) return;
        this.options.onStatus?.("error", (error as Error).message);
      }
      if (this.#closed) return;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  }

  async #connect(): Promise<void> {
    const q = new URLSearchParams({ channels: this.options.channels.join(",") });
    for (const d of this.options.deviceIds ?? []) q.append("deviceId", d);
    for (const t of this.options.eventTypes ?? []) q.append("eventType", t);
    if (this.#lastSeq !== null && this.options.channels.includes("events")) {
      q.set("since", String(this.#lastSeq));
    }
    const key = storedKey();
    const res = await fetch(`/v1/stream/sse?${q}`, {
      headers: key ? { "x-api-key": key, accept: "text/event-stream" } : {},
      signal: this.#abort.signal,
    });
    if (!res.ok || !res.body) {
      const body = await res.json().catch(() => null) as { message?: string } | null;
      throw new Error(body?.message ?? `live stream answered HTTP ${res.status}`);
    }
    this.options.onStatus?.("open");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("live stream closed");
      pending += value;
      // One pass over the chunk; the unread rest is kept once (a chunk may hold thousands of frames).
      let start = 0;
      let end: number;
      while ((end = pending.indexOf("\n\n", start)) >= 0) {
        this.#frameText(pending, start, end);
        start = end + 2;
      }
      pending = pending.slice(start);
    }
  }

  /** Parses the SSE frame `text[start, end)`: `id:`, `event:` and one `data:` line (PulseStream's frames). */
  #frameText(text: string, start: number, end: number): void {
    let type = "message";
    let seq = 0;
    let data = "";
    let line = start;
    while (line < end) {
      let eol = text.indexOf("\n", line);
      if (eol < 0 || eol > end) eol = end;
      if (text.startsWith("event: ", line)) type = text.slice(line + 7, eol);
      else if (text.startsWith("id: ", line)) seq = Number(text.slice(line + 4, eol));
      else if (text.startsWith("data: ", line)) data += text.slice(line + 6, eol);
      line = eol + 1;
    }
    if (!data) return; // a comment (": ping")
    if (type === "event" && seq > (this.#lastSeq ?? 0)) this.#lastSeq = seq;
    const max = this.options.maxBuffered ?? 5000;
    if (this.#buffer.length >= max) {
      this.#buffer.shift();
      this.#dropped++;
    }
    this.#received++;
    this.#buffer.push({ type, seq, data });
    if (!this.#frame) this.#frame = requestAnimationFrame(() => this.#flush());
  }

  #flush(): void {
    this.#frame = 0;
    const batch = this.#buffer;
    this.#buffer = [];
    if (batch.length && !this.#closed) {
      this.options.onBatch(batch.map((m) => ({ type: m.type, seq: m.seq, data: JSON.parse(m.data) })));
    }
  }
}
