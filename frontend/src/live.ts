/**
 * The live stream over Server-Sent Events, read with fetch so the key goes
 * in a header (EventSource cannot send one, and a key in the URL ends up in
 * logs). Messages are buffered and handed over at most once per animation
 * frame, in one batch, so a page renders once per frame however fast events
 * arrive; past `maxBuffered` per frame the oldest are dropped unparsed. Reconnects with backoff, resuming
 * events after the last seq seen; stops (and signs out) when the key is refused with 401.
 * Gaps are counted, never hidden: `dropped` (this client's frame buffer) and `skipped` (the server's
 * `lagged` messages: it dropped that many messages for this subscriber), plus `onGap` for both.
 */
import { keyRefused, storedKey } from "./api.ts";
import { type SseFrame, SseParser } from "./sse-parser.ts";

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
  /** Called (at most once per frame) when messages were lost: dropped here or skipped by the server. */
  onGap?(gap: { dropped: number; skipped: number }): void;
}

export class LiveStream {
  #abort = new AbortController();
  /** Raw messages since the last frame; JSON is parsed only for those handed over. */
  #buffer: { type: string; seq: number; data: string }[] = [];
  #dropped = 0;
  #skipped = 0;
  #bad = 0;
  #gap = false;
  #received = 0;
  #frame = 0;
  #lastSeq: number | null = null;
  #closed = false;
  /** The reconnection delay the server last asked for (SSE `retry`), ms. */
  #retryMs: number | null = null;
  /** Connection attempts since the stream was last open. */
  #failures = 0;

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

  /** Messages the server skipped for this subscriber (the sum of its `lagged` messages' `missed`). */
  get skipped(): number {
    return this.#skipped;
  }

  /** Frames whose data was not JSON (left out of the batch, counted). */
  get malformed(): number {
    return this.#bad;
  }

  close(): void {
    this.#closed = true;
    this.#abort.abort();
    if (this.#frame) cancelAnimationFrame(this.#frame);
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      this.options.onStatus?.("connecting");
      try {
        await this.#connect();
      } catch (error) {
        if (this.#closed) return;
        this.options.onStatus?.("error", (error as Error).message);
      }
      if (this.#closed) return;
      // The server's `retry`, else 500 ms, doubling with every failed attempt in a row up to 10 s.
      const base = this.#retryMs ?? 500;
      const wait = Math.min(base * 2 ** this.#failures, Math.max(base, 10_000));
      this.#failures++;
      await new Promise((r) => setTimeout(r, wait));
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
      const message = body?.message ?? `live stream answered HTTP ${res.status}`;
      if (res.status === 401 && key) {
        this.close();
        this.options.onStatus?.("error", message);
        keyRefused(message);
      }
      throw new Error(message);
    }
    this.options.onStatus?.("open");
    this.#failures = 0; // a stream that was open reconnects after the base delay, not a grown one
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser((f) => this.#take(f));
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error("live stream closed");
        parser.push(value);
      }
    } finally {
      this.#retryMs = parser.retryMs ?? this.#retryMs;
    }
  }

  #take(frame: SseFrame): void {
    const { type, seq, data } = frame;
    if (type === "event" && seq > (this.#lastSeq ?? 0)) this.#lastSeq = seq;
    const max = this.options.maxBuffered ?? 5000;
    if (this.#buffer.length >= max) {
      this.#buffer.shift();
      this.#dropped++;
      this.#gap = true;
    }
    this.#received++;
    this.#buffer.push({ type, seq, data });
    if (!this.#frame) this.#frame = requestAnimationFrame(() => this.#flush());
  }

  #flush(): void {
    this.#frame = 0;
    const batch = this.#buffer;
    this.#buffer = [];
    if (!batch.length || this.#closed) return;
    const messages: LiveMessage[] = [];
    for (const m of batch) {
      let data: unknown;
      try {
        data = JSON.parse(m.data);
      } catch {
        this.#bad++; // one bad frame must not lose the batch
        continue;
      }
      if (m.type === "lagged") {
        this.#skipped += Number((data as { missed?: number }).missed) || 0;
        this.#gap = true;
      }
      messages.push({ type: m.type, seq: m.seq, data });
    }
    if (messages.length) this.options.onBatch(messages);
    if (this.#gap) {
      this.#gap = false;
      this.options.onGap?.({ dropped: this.#dropped, skipped: this.#skipped });
    }
  }
}
