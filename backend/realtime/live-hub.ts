/**
 * Fan-out of live messages to subscribers (SSE and WebSocket clients).
 *
 * Channels: `events` (accepted events, in commit order), `aggregates` (window
 * updates, closed windows, corrections), `stats` (every second) and `alerts`.
 * Filters: device ids, event types, metadata tags.
 *
 * Every message carries `seq`: for an event its commit seq, for anything else
 * the seq of the last event published before it. A client that resumes with
 * the last `seq` it saw gets the events it missed replayed from the store
 * (replay.ts), then the live stream, with no gap and no duplicate.
 *
 * Publishing never waits for a subscriber: each has a queue bounded in
 * messages and in bytes, drained by its own writer. A subscriber whose queue
 * overflows is told it lagged and skipped ahead; one that lags again and
 * again, whose transport takes nothing for `sendTimeoutMs`, whose key is
 * revoked or expires, or that holds the most (a stuck one first) when all
 * together hold more than `maxTotalBufferedBytes`, is closed: its transport is ended with the
 * reason and a log line is written. The caps count connections actually
 * held (slots.ts). A published message is one object shared by all its
 * subscribers; a subscriber to every event takes a commit in one step.
 */
import type { StoredEvent } from "../../shared/event.ts";
import type { WindowMessage } from "../stream/engine.ts";
import {
  type Channel,
  eventMessage,
  type LiveFilter,
  matchesEvent,
  matchesWindow,
  messageBytes,
  type OutMessage,
  outMessage,
  windowMessage,
} from "./live-messages.ts";
import type { LiveHubOptions, LiveSubscription, Sink } from "./live-ports.ts";
import { replayMissed, ReplayPages, ReplayTurns } from "./replay.ts";
import { SendTurns } from "./send-turns.ts";
import { SubscriberSlots } from "./slots.ts";
import { MAX_SEND_BYTES, Subscriber } from "./subscriber.ts";

export { CHANNELS } from "./live-messages.ts";
export type { Channel, LiveFilter, OutMessage } from "./live-messages.ts";
export type { LiveHubOptions, LiveLimits, LiveSubscription, Sink } from "./live-ports.ts";

/** Transports closed (and log lines written) per timer turn when many subscribers close at once. */
const CLOSE_SLICE = 25;
/** Subscriber drains started per timer turn (see `#startDrains`). */
const DRAIN_SLICE = 100;
/** Bytes handed to transports per event-loop turn (send-turns.ts): a few ms of writes. */
const TURN_SEND_BYTES = 8 * 1024 * 1024;

interface Closing {
  sink: Sink;
  reason: string;
  /** The log line's fields; null: closed without one (shutdown). */
  fields: Record<string, unknown> | null;
}

export class LiveHub {
  #subscribers = new Map<number, Subscriber>();
  #slots: SubscriberSlots;
  #replayTurns = new ReplayTurns();
  #replayPages = new ReplayPages();
  #nextId = 1;
  #lastSeq = 0;
  #delivered = 0;
  #lagged = 0;
  #closed = 0;
  #totalBytes = 0;
  #timer: ReturnType<typeof setInterval> | null = null;
  #ticks = 0;
  /** Subscribers closed whose transport close and log line are still to come (`#closeSome`). */
  #closing: Closing[] = [];
  #closingScheduled = false;
  /** The total bound's closing order, computed once per synchronous step (`#grow`). */
  #victims: Subscriber[] | null = null;
  /** Subscribers whose drain starts at the next `#startDrains`. */
  #drainSoon = new Set<Subscriber>();
  #drainTimer: ReturnType<typeof setTimeout> | null = null;
  #sendTurns = new SendTurns(TURN_SEND_BYTES, MAX_SEND_BYTES);
  #checkingKeys = false;

  constructor(private readonly options: LiveHubOptions) {
    this.#slots = new SubscriberSlots(options.maxSubscribers, options.maxSubscribersPerKey);
  }

  /** Connections held by subscribers (what the caps count). */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * Messages handed to transports, lag events, subscribers closed by the hub, and the bytes held
   * for all subscribers (bounded by `maxTotalBufferedBytes`).
   */
  get counters(): { delivered: number; lagged: number; closed: number; bufferedBytes: number } {
    return {
      delivered: this.#delivered,
      lagged: this.#lagged,
      closed: this.#closed,
      bufferedBytes: this.#totalBytes,
    };
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
   * `RateLimitedError` (429) when the caps are reached. The transport calls the returned `ended`
   * once its connection has ended (that frees the slot), and `close` when it drops the connection
   * itself (a dead peer): the subscriber is then closed like any other, with its log line.
   */
  subscribe(keyId: string, filter: LiveFilter, sink: Sink, since: number | null): LiveSubscription {
    const free = this.#slots.take(keyId);
    const sub = new Subscriber(this.#nextId++, keyId, filter, sink, since, this.#lastSeq);
    this.#subscribers.set(sub.id, sub);
    this.#timer ??= setInterval(() => this.#tick(), this.#tickMs());
    if (filter.channels.has("stats") && this.options.statsSnapshot) {
      this.#enqueue(sub, outMessage(this.#lastSeq, "stats", JSON.stringify(this.options.statsSnapshot())));
    }
    if (sub.held) {
      void replayMissed(sub, since!, {
        ...this.options,
        turns: this.#replayTurns,
        pages: this.#replayPages,
        lastSeq: () => this.#lastSeq,
        push: (m) => this.#push(sub, m),
        release: () => this.#release(sub),
        close: (reason) => this.#close(sub, reason),
      });
    }
    return {
      ended: () => {
        this.#remove(sub);
        free();
        if (this.#slots.size === 0) this.#stopTimer();
      },
      close: (reason) => this.#close(sub, reason),
    };
  }

  /** Throws the `RateLimitedError` (429) `subscribe` would throw now (checked before a WebSocket upgrade). */
  assertCapacity(keyId: string): void {
    this.#slots.assertFree(keyId);
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
    let allBytes = 0;
    for (const sub of [...this.#subscribers.values()]) {
      if (!sub.filter.channels.has("events")) continue;
      // A resume can read a commit from the store before it is published here: what the
      // subscriber already has (seq <= lastSeq) is not sent again.
      const after = sub.lastSeq;
      if (sub.allEvents && events[0].seq > after) {
        if (!all) {
          all = events.map((_, i) => message(i));
          for (const m of all) allBytes += messageBytes(m);
        }
        this.#enqueueAll(sub, all, allBytes);
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
    for (const sub of [...this.#subscribers.values()]) {
      if (!sub.filter.channels.has("aggregates") || !matchesWindow(sub.filter, m)) continue;
      message ??= windowMessage(this.#lastSeq, m);
      this.#enqueue(sub, message);
    }
  }

  /** Publishes on `stats` or `alerts` (no filters apply). */
  publishTo(channel: "stats" | "alerts", body: unknown): void {
    let message: OutMessage | null = null;
    for (const sub of [...this.#subscribers.values()]) {
      if (!sub.filter.channels.has(channel)) continue;
      message ??= outMessage(this.#lastSeq, channel === "stats" ? "stats" : "alert", JSON.stringify(body));
      this.#enqueue(sub, message);
    }
  }

  /** Closes every subscription of `keyId` (its key was revoked or expired). */
  closeKey(keyId: string, reason: string): void {
    for (const sub of [...this.#subscribers.values()]) if (sub.keyId === keyId) this.#close(sub, reason);
  }

  /** Disconnects everyone (shutdown). */
  closeAll(reason: string): void {
    for (const sub of [...this.#subscribers.values()]) this.#close(sub, reason, false, true);
    for (const c of this.#closing.splice(0)) this.#finishClose(c);
    this.#stopTimer();
  }

  /**
   * Ends a subscriber's fan-out at once (its bytes leave the total) and its transport soon, with a
   * log line: transports are closed and lines written `CLOSE_SLICE` at a time, one slice per timer
   * turn (`#closeSome`), so that closing a thousand subscribers in one step (the total bound, a
   * revoked key) does not hold the event loop for all of them. `now` closes the transport at once
   * (shutdown).
   */
  #close(sub: Subscriber, reason: string, log = true, now = false): void {
    if (sub.closed) return;
    const fields = { subscriber: sub.id, keyId: sub.keyId, reason, buffered: sub.bytes };
    this.#remove(sub);
    this.#closed++;
    const closing = { sink: sub.sink, reason, fields: log ? fields : null };
    if (now) {
      this.#finishClose(closing);
      return;
    }
    this.#closing.push(closing);
    if (!this.#closingScheduled) {
      this.#closingScheduled = true;
      setTimeout(() => this.#closeSome(), 0);
    }
  }

  /** Closes the next `CLOSE_SLICE` transports the hub closed; the rest on the next timer turn. */
  #closeSome(): void {
    const slice = this.#closing.splice(0, CLOSE_SLICE);
    for (const c of slice) this.#finishClose(c);
    if (this.#closing.length > 0) setTimeout(() => this.#closeSome(), 0);
    else this.#closingScheduled = false;
  }

  #finishClose(c: Closing): void {
    if (c.fields) this.options.log?.("live subscriber closed", c.fields);
    try {
      c.sink.close(c.reason);
    } catch {
      // a transport that fails to close is gone already
    }
  }

  #remove(sub: Subscriber): void {
    if (sub.closed) return;
    this.#totalBytes -= sub.bytes + sub.heldBytes;
    sub.close();
    this.#subscribers.delete(sub.id);
  }

  #tickMs(): number {
    return Math.min(250, this.options.keyCheckMs);
  }

  #stopTimer(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * Closes subscribers that hold bytes their transport has taken nothing of for `sendTimeoutMs`,
   * and (every `keyCheckMs`) those whose key is no longer valid.
   */
  #tick(): void {
    // Timer periods, not the injected clock: these bound real time (waits on I/O, key checks).
    const stuckTicks = Math.ceil(this.options.sendTimeoutMs / this.#tickMs());
    for (const sub of [...this.#subscribers.values()]) {
      this.#countTransport(sub);
      if (sub.bytes === 0 || sub.progressed) sub.stuckTicks = 0;
      else if (++sub.stuckTicks >= stuckTicks) this.#close(sub, "subscriber not reading");
      sub.progressed = false;
    }
    const checkEvery = Math.max(1, Math.round(this.options.keyCheckMs / this.#tickMs()));
    if (this.options.keyProblem && !this.#checkingKeys && ++this.#ticks % checkEvery === 0) {
      this.#checkingKeys = true;
      void this.#checkKeys(this.options.keyProblem).finally(() => (this.#checkingKeys = false));
    }
  }

  async #checkKeys(keyProblem: (keyId: string) => Promise<string | null>): Promise<void> {
    const keys = new Set([...this.#subscribers.values()].map((s) => s.keyId));
    for (const keyId of keys) {
      const problem = await keyProblem(keyId).catch(() => null); // a store hiccup closes nothing
      if (problem) this.closeKey(keyId, problem);
    }
  }

  /** Ends a replay: held live messages newer than the replay go out, older ones were replayed. */
  #release(sub: Subscriber): void {
    if (sub.closed) return;
    const held = sub.held ?? [];
    this.#totalBytes -= sub.heldBytes;
    sub.held = null;
    sub.heldBytes = 0;
    for (const m of held) if (m.type !== "event" || m.seq > sub.lastSeq) this.#push(sub, m);
  }

  /**
   * `#enqueue` of each message in turn, in one step when the subscriber is live and they all fit
   * in its queue (the common case: no per-message work for a subscriber to every event).
   */
  #enqueueAll(sub: Subscriber, messages: readonly OutMessage[], bytes: number): void {
    if (sub.closed) return;
    if (sub.held) {
      for (const m of messages) this.#enqueue(sub, m);
      return;
    }
    const { queueLimit, maxBufferedBytes } = this.options;
    const last = messages[messages.length - 1].seq;
    // An empty queue takes a whole commit whatever its bytes: one commit never makes a reader lag.
    const fits = () =>
      sub.queue.length + messages.length <= queueLimit &&
      (sub.queue.length === 0 || sub.bytes + bytes <= maxBufferedBytes);
    if (!fits() && (sub.queue.length + messages.length > queueLimit || this.#stillFull(sub, bytes))) {
      // One lag for the whole commit, not a check per message: a subscriber that stopped reading
      // costs one step per commit. The lag message's resume seq already covers this commit.
      this.#overflow(sub, "queue");
      if (sub.closed) return;
      if (!fits()) {
        sub.lastSeq = Math.max(sub.lastSeq, last);
        return;
      }
    }
    sub.queue.pushAll(messages);
    sub.bytes += bytes;
    this.#grow(bytes);
    if (last > sub.lastSeq) sub.lastSeq = last;
    this.#startDrain(sub);
  }

  #enqueue(sub: Subscriber, m: OutMessage): void {
    if (sub.closed) return;
    if (sub.held) {
      const size = messageBytes(m);
      if (
        sub.held.length >= this.options.queueLimit ||
        (sub.heldBytes + size > this.options.maxBufferedBytes && sub.held.length > 0)
      ) {
        this.#overflow(sub, "held");
        return;
      }
      sub.held.push(m);
      sub.heldBytes += size;
      this.#grow(size);
      return;
    }
    this.#push(sub, m);
  }

  #push(sub: Subscriber, m: OutMessage): void {
    if (sub.closed) return;
    const size = messageBytes(m);
    if (
      sub.queue.length >= this.options.queueLimit ||
      (sub.bytes + size > this.options.maxBufferedBytes && sub.queue.length > 0 && this.#stillFull(sub, size))
    ) {
      this.#overflow(sub, "queue");
      if (sub.closed) return;
    }
    sub.queue.push(m);
    sub.bytes += size;
    if (m.type === "event" && m.seq > sub.lastSeq) sub.lastSeq = m.seq;
    this.#grow(size);
    if (!sub.closed) this.#startDrain(sub);
  }

  /** Whether `size` more bytes overflow once the transport's count is refreshed. */
  #stillFull(sub: Subscriber, size: number): boolean {
    if (sub.transportBytes > 0) this.#countTransport(sub);
    return sub.bytes + size > this.options.maxBufferedBytes;
  }

  /** Counts what the subscriber's transport holds (refreshed after each write and each tick). */
  #countTransport(sub: Subscriber): void {
    if (!sub.sink.buffered || sub.closed) return;
    const now = sub.sink.buffered();
    const delta = now - sub.transportBytes;
    if (delta === 0) return;
    if (delta < 0) sub.progressed = true;
    sub.transportBytes = now;
    sub.bytes += delta;
    if (delta > 0) this.#grow(delta);
    else this.#totalBytes += delta;
  }

  /**
   * Counts `bytes` more in the total; over the bound, closes subscribers in `Subscriber.closesBefore`
   * order. The order is sorted once per synchronous step and reused by every overflow in it (a
   * commit fanned out to a thousand subscribers over the bound closes many): a victim found by a
   * scan of every subscriber per close made such a step quadratic.
   */
  #grow(bytes: number): void {
    this.#totalBytes += bytes;
    if (this.#totalBytes <= this.options.maxTotalBufferedBytes) return;
    if (!this.#victims) {
      this.#victims = [...this.#subscribers.values()].sort((a, b) =>
        a.closesBefore(b) ? -1 : b.closesBefore(a) ? 1 : 0
      ).reverse();
      queueMicrotask(() => (this.#victims = null));
    }
    while (this.#totalBytes > this.options.maxTotalBufferedBytes) {
      const victim = this.#victims.pop();
      if (!victim) return;
      this.#close(victim, "live buffers full");
    }
  }

  #startDrain(sub: Subscriber): void {
    if (sub.writing) return;
    sub.writing = true;
    if (this.options.coalesceMs <= 0) {
      queueMicrotask(() => void this.#drain(sub));
      return;
    }
    // Drains start after a short coalescing delay, so that messages published close together
    // (many small commits) share one transport write instead of one each; one timer for all.
    this.#drainSoon.add(sub);
    this.#drainTimer ??= setTimeout(() => this.#startDrains(), this.options.coalesceMs);
  }

  /**
   * Starts the waiting drains, `DRAIN_SLICE` per timer turn: each start renders or finds its frame
   * and hands it to the transport at once, so a thousand subscribers' starts in one callback held
   * the loop for all of them while requests waited.
   */
  #startDrains(): void {
    this.#drainTimer = null;
    let started = 0;
    for (const sub of this.#drainSoon) {
      this.#drainSoon.delete(sub);
      void this.#drain(sub);
      if (++started === DRAIN_SLICE && this.#drainSoon.size > 0) {
        this.#drainTimer = setTimeout(() => this.#startDrains(), 0);
        return;
      }
    }
  }

  /** The subscriber cannot keep up: drop its backlog, tell it the gap, or disconnect it. */
  #overflow(sub: Subscriber, which: "queue" | "held"): void {
    this.#lagged++;
    const now = this.options.now();
    sub.lags = sub.lags.filter((t) => now - t < this.options.lagWindowMs);
    sub.lags.push(now);
    if (sub.lags.length > this.options.maxLags) {
      this.#close(sub, "subscriber too slow");
      return;
    }
    this.#totalBytes += sub.skipAhead(which, this.#lastSeq);
  }

  async #drain(sub: Subscriber): Promise<void> {
    try {
      while (sub.queue.length > 0 && !sub.closed) {
        const slot = this.#sendTurns.slot();
        if (slot) await slot;
        if (sub.closed || sub.queue.length === 0) return;
        const batch = sub.takeBatch();
        let bytes = 0;
        for (const m of batch) bytes += messageBytes(m);
        this.#sendTurns.spend(bytes);
        // The batch stays counted in the subscriber's bytes until its transport has taken it.
        await sub.sink.send(batch);
        if (sub.closed) return;
        sub.progressed = true;
        sub.bytes -= bytes;
        this.#totalBytes -= bytes;
        this.#countTransport(sub);
        this.#delivered += batch.length;
        sub.madeRoom();
      }
    } catch {
      this.#close(sub, "transport failed");
    } finally {
      sub.writing = false;
    }
  }
}
