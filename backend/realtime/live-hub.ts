/**
 * Fan-out of live messages to subscribers (SSE and WebSocket clients).
 *
 * Channels: `events` (every accepted event, in commit order), `aggregates`
 * (open-window updates, closed windows and corrections from the stream
 * engine), `stats` (system figures every second) and `alerts` (the alerting
 * issue publishes there). Filters: device ids, event types, metadata tags.
 *
 * Every message carries `seq`: for an event its commit seq, for anything else
 * the seq of the last event published before it. A client that reconnects
 * with the last `seq` it saw gets the events it missed replayed from the store
 * (at most `replayLimit`; beyond that a `lagged` message says what was
 * skipped), then the live stream, with no gap and no duplicate: live events
 * are held while the replay runs and released from where it ended.
 *
 * Publishing never waits for a subscriber: each has a bounded queue drained
 * by its own writer. A subscriber whose queue overflows is told it lagged
 * (how many messages it missed, and the seq to resume from) and skipped
 * ahead; one that lags again and again is disconnected. Nothing here blocks
 * ingestion or other subscribers.
 *
 * A published message is one object shared by all its subscribers (never
 * copied or changed), and a subscriber to every event takes a whole commit in
 * one step (a push per message, no filtering or bookkeeping per message);
 * transports render a batch that several subscribers drain once
 * (shared-frames.ts).
 */
import { type StoredEvent, toEventView } from "../../shared/event.ts";
import type { WindowMessage } from "../stream/engine.ts";
import { RateLimitedError } from "../errors.ts";

export const CHANNELS = ["events", "aggregates", "stats", "alerts"] as const;
/** Most messages handed to a transport in one write. */
const MAX_SEND_BATCH = 1000;
export type Channel = typeof CHANNELS[number];

export interface LiveFilter {
  channels: ReadonlySet<Channel>;
  deviceIds: ReadonlySet<string> | null;
  eventTypes: ReadonlySet<string> | null;
  /** Tag equality: the event's tag rendered as text must equal the value. */
  metadata: readonly [string, string][];
}

/** One message as delivered: `type` names it (SSE `event:`), `seq` orders it (SSE `id:`). */
export interface OutMessage {
  seq: number;
  type: "event" | "window" | "correction" | "stats" | "alert" | "lagged";
  /** The JSON text of the message body. */
  data: string;
}

/** Where a subscriber's messages go (an SSE stream or a WebSocket). */
export interface Sink {
  /**
   * Sends messages in order, as few transport writes as the transport allows (everything queued
   * goes in one call, so a commit of many events is not many writes); resolves when taken.
   */
  send(messages: readonly OutMessage[]): Promise<void>;
  /** Ends the connection with a reason (WebSocket close code 4008 / SSE end). */
  close(reason: string): void;
}

/** The hub's limits (configured by the LIVE_* variables). */
export interface LiveLimits {
  /** Most messages queued per subscriber before it is skipped ahead. */
  queueLimit: number;
  /** Most events replayed on resume. */
  replayLimit: number;
  /** Most subscribers in total and per API key. */
  maxSubscribers: number;
  maxSubscribersPerKey: number;
  /** Lags within `lagWindowMs` after which a subscriber is disconnected. */
  maxLags: number;
  lagWindowMs: number;
  /** Delay before a subscriber's queue is written, so that close messages share a write, ms. */
  coalesceMs: number;
}

export interface LiveHubOptions extends LiveLimits {
  /** Reads committed events after a seq (the store), for resume. */
  readEventsAfter(afterSeq: number, limit: number): Promise<StoredEvent[]>;
  now(): number;
  /** The current `stats` message, sent at once to a new subscriber of that channel (else it waits for the next tick). */
  statsSnapshot?: () => unknown;
}

interface Subscriber {
  id: number;
  keyId: string;
  filter: LiveFilter;
  /** Subscribed to `events` without filters: takes every published event. */
  allEvents: boolean;
  sink: Sink;
  queue: OutMessage[];
  /** Set while resuming: live events wait here until the replay caught up. */
  held: OutMessage[] | null;
  writing: boolean;
  closed: boolean;
  lags: number[];
  /** Highest event seq handed to this subscriber. */
  lastSeq: number;
}

export class LiveHub {
  #subscribers = new Map<number, Subscriber>();
  #nextId = 1;
  #lastSeq = 0;
  #delivered = 0;
  #lagged = 0;

  constructor(private readonly options: LiveHubOptions) {}

  get size(): number {
    return this.#subscribers.size;
  }

  /** Counters for stats: messages handed to transports, lag events. */
  get counters(): { delivered: number; lagged: number } {
    return { delivered: this.#delivered, lagged: this.#lagged };
  }

  /** Seq of the last event published. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Whether anyone listens to `channel` (so producers can skip building messages). */
  wants(channel: Channel): boolean {
    for (const s of this.#subscribers.values()) if (s.filter.channels.has(channel)) return true;
    return false;
  }

  /**
   * Adds a subscriber; with `since`, first replays the events after it. Throws
   * `RateLimitedError` (429) when the caps are reached. Returns the function that removes it.
   */
  subscribe(keyId: string, filter: LiveFilter, sink: Sink, since: number | null): () => void {
    const { maxSubscribers, maxSubscribersPerKey } = this.options;
    if (this.#subscribers.size >= maxSubscribers) {
      throw new RateLimitedError(`At most ${maxSubscribers} live subscribers`, 5, {});
    }
    let mine = 0;
    for (const s of this.#subscribers.values()) if (s.keyId === keyId) mine++;
    if (mine >= maxSubscribersPerKey) {
      throw new RateLimitedError(`At most ${maxSubscribersPerKey} live subscribers per API key`, 5, {});
    }
    const sub: Subscriber = {
      id: this.#nextId++,
      keyId,
      filter,
      allEvents: filter.channels.has("events") && !filter.deviceIds && !filter.eventTypes &&
        filter.metadata.length === 0,
      sink,
      queue: [],
      held: since !== null && filter.channels.has("events") ? [] : null,
      writing: false,
      closed: false,
      lags: [],
      lastSeq: since ?? this.#lastSeq,
    };
    this.#subscribers.set(sub.id, sub);
    if (filter.channels.has("stats") && this.options.statsSnapshot) {
      this.#enqueue(sub, {
        seq: this.#lastSeq,
        type: "stats",
        data: JSON.stringify(this.options.statsSnapshot()),
      });
    }
    if (sub.held) void this.#replay(sub, since!);
    return () => this.#remove(sub);
  }

  /** Publishes committed events (commit order). */
  publishEvents(events: readonly StoredEvent[]): void {
    for (const e of events) if (e.seq > this.#lastSeq) this.#lastSeq = e.seq;
    if (events.length === 0 || !this.wants("events")) return;
    // One message object per event for every subscriber, built on first need: transports
    // recognise identical batches by identity (shared-frames.ts).
    const messages: (OutMessage | undefined)[] = new Array(events.length);
    const message = (i: number) => (messages[i] ??= eventMessage(events[i]));
    let all: OutMessage[] | null = null;
    for (const sub of this.#subscribers.values()) {
      if (!sub.filter.channels.has("events")) continue;
      // A resume can read a commit from the store before it is published here: what the
      // subscriber already has (seq <= lastSeq) is not sent again.
      const after = sub.lastSeq;
      if (sub.allEvents && events[0].seq > after) {
        all ??= events.map((_, i) => message(i));
        this.#enqueueAll(sub, all);
        continue;
      }
      for (let i = 0; i < events.length; i++) {
        if (events[i].seq > after && matchesEvent(sub.filter, events[i])) this.#enqueue(sub, message(i));
      }
    }
  }

  /** Publishes a window update, closed window or correction from the stream engine. */
  publishWindow(m: WindowMessage): void {
    let message: OutMessage | null = null;
    for (const sub of this.#subscribers.values()) {
      if (!sub.filter.channels.has("aggregates") || !matchesWindow(sub.filter, m)) continue;
      message ??= {
        seq: this.#lastSeq,
        type: m.kind,
        data: JSON.stringify({ ...m, startTime: new Date(m.start).toISOString() }),
      };
      this.#enqueue(sub, message);
    }
  }

  /** Publishes on `stats` or `alerts` (no filters apply). */
  publishTo(channel: "stats" | "alerts", body: unknown): void {
    let message: OutMessage | null = null;
    for (const sub of this.#subscribers.values()) {
      if (!sub.filter.channels.has(channel)) continue;
      message ??= {
        seq: this.#lastSeq,
        type: channel === "stats" ? "stats" : "alert",
        data: JSON.stringify(body),
      };
      this.#enqueue(sub, message);
    }
  }

  /** Disconnects everyone (shutdown). */
  closeAll(reason: string): void {
    for (const sub of [...this.#subscribers.values()]) {
      sub.sink.close(reason);
      this.#remove(sub);
    }
  }

  async #replay(sub: Subscriber, since: number): Promise<void> {
    const { replayLimit } = this.options;
    let after = since;
    let replayed = 0;
    try {
      for (;;) {
        if (sub.closed) return;
        const page = await this.options.readEventsAfter(after, Math.min(1000, replayLimit - replayed + 1));
        if (page.length === 0) break;
        for (const e of page) {
          if (replayed === replayLimit) {
            // Too far behind: say what is skipped and continue live from the newest event.
            this.#push(sub, lagMessage(e.seq, this.#lastSeq, this.#lastSeq - e.seq + 1, this.#lastSeq));
            sub.lastSeq = this.#lastSeq;
            this.#release(sub);
            return;
          }
          after = e.seq;
          replayed++;
          if (!matchesEvent(sub.filter, e)) continue;
          this.#push(sub, eventMessage(e));
        }
        sub.lastSeq = after;
        if (after >= this.#lastSeq) break;
      }
      sub.lastSeq = Math.max(sub.lastSeq, after);
      this.#release(sub);
    } catch {
      sub.sink.close("replay failed");
      this.#remove(sub);
    }
  }

  /** Ends a replay: held live messages newer than the replay go out, older ones were replayed. */
  #release(sub: Subscriber): void {
    const held = sub.held ?? [];
    sub.held = null;
    for (const m of held) if (m.type !== "event" || m.seq > sub.lastSeq) this.#push(sub, m);
  }

  /**
   * `#enqueue` of each message in turn, in one step when the subscriber is live and they all fit
   * in its queue (the common case: no per-message work for a subscriber to every event).
   */
  #enqueueAll(sub: Subscriber, messages: readonly OutMessage[]): void {
    if (sub.closed) return;
    if (sub.held || sub.queue.length + messages.length > this.options.queueLimit) {
      for (const m of messages) this.#enqueue(sub, m);
      return;
    }
    for (const m of messages) sub.queue.push(m);
    const last = messages[messages.length - 1].seq;
    if (last > sub.lastSeq) sub.lastSeq = last;
    this.#startDrain(sub);
  }

  #enqueue(sub: Subscriber, m: OutMessage): void {
    if (sub.closed) return;
    if (sub.held) {
      if (sub.held.length >= this.options.queueLimit) {
        this.#overflow(sub, sub.held);
        return;
      }
      sub.held.push(m);
      return;
    }
    this.#push(sub, m);
  }

  #push(sub: Subscriber, m: OutMessage): void {
    if (sub.queue.length >= this.options.queueLimit) {
      this.#overflow(sub, sub.queue);
      if (sub.closed) return;
    }
    sub.queue.push(m);
    if (m.type === "event" && m.seq > sub.lastSeq) sub.lastSeq = m.seq;
    this.#startDrain(sub);
  }

  #startDrain(sub: Subscriber): void {
    if (sub.writing) return;
    // Start a drain after a short coalescing delay, so that messages published close together
    // (many small commits) share one transport write instead of one each.
    sub.writing = true;
    if (this.options.coalesceMs > 0) setTimeout(() => void this.#drain(sub), this.options.coalesceMs);
    else queueMicrotask(() => void this.#drain(sub));
  }

  /** The subscriber cannot keep up: drop its backlog, tell it the gap, or disconnect it. */
  #overflow(sub: Subscriber, backlog: OutMessage[]): void {
    this.#lagged++;
    const now = this.options.now();
    sub.lags = sub.lags.filter((t) => now - t < this.options.lagWindowMs);
    sub.lags.push(now);
    if (sub.lags.length > this.options.maxLags) {
      sub.sink.close("subscriber too slow");
      this.#remove(sub);
      return;
    }
    const first = backlog.find((m) => m.type === "event")?.seq ?? sub.lastSeq;
    const missed = backlog.length;
    backlog.length = 0;
    backlog.push(lagMessage(first, this.#lastSeq, missed, this.#lastSeq));
    sub.lastSeq = this.#lastSeq;
  }

  async #drain(sub: Subscriber): Promise<void> {
    try {
      while (sub.queue.length > 0 && !sub.closed) {
        const batch = sub.queue.splice(0, MAX_SEND_BATCH);
        await sub.sink.send(batch);
        this.#delivered += batch.length;
      }
    } catch {
      this.#remove(sub);
    } finally {
      sub.writing = false;
    }
  }

  #remove(sub: Subscriber): void {
    sub.closed = true;
    sub.queue.length = 0;
    this.#subscribers.delete(sub.id);
  }
}

function lagMessage(fromSeq: number, toSeq: number, missed: number, seq: number): OutMessage {
  return {
    seq,
    type: "lagged",
    data: JSON.stringify({
      type: "lagged",
      missed,
      skippedFromSeq: fromSeq,
      resumeAfterSeq: toSeq,
      message: "subscriber fell behind; messages were skipped (reconnect with since= to replay events)",
    }),
  };
}

function eventMessage(e: StoredEvent): OutMessage {
  return { seq: e.seq, type: "event", data: JSON.stringify({ ...toEventView(e), seq: e.seq }) };
}

function matchesEvent(f: LiveFilter, e: StoredEvent): boolean {
  if (f.deviceIds && !f.deviceIds.has(e.deviceId)) return false;
  if (f.eventTypes && !f.eventTypes.has(e.eventType)) return false;
  for (const [k, v] of f.metadata) {
    const tag = e.metadata?.[k];
    if (tag === undefined || String(tag) !== v) return false;
  }
  return true;
}

function matchesWindow(f: LiveFilter, m: WindowMessage): boolean {
  if (f.eventTypes && !f.eventTypes.has(m.eventType)) return false;
  if (f.deviceIds) return m.deviceId !== null && f.deviceIds.has(m.deviceId);
  return true;
}
