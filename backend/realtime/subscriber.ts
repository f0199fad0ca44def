/**
 * One live subscriber's state in the hub: its queue, what it holds in bytes,
 * its held live messages while a resume replays, and its lag history.
 */
import { lagMessage, type LiveFilter, messageBytes, type OutMessage } from "./live-messages.ts";
import type { Sink } from "./live-ports.ts";
import { MessageQueue } from "./message-queue.ts";

/** Most messages handed to a transport in one write. */
const MAX_SEND_BATCH = 1000;
/**
 * Bytes handed to a transport in one write (a batch goes over it by at most one message). Small
 * writes bound what a runtime holds for a peer that stopped reading: Deno cannot drop such a
 * connection, and keeps the last write it took until the peer reads or goes away.
 */
export const MAX_SEND_BYTES = 64 * 1024;

export class Subscriber {
  /** Subscribed to `events` without filters: takes every published event. */
  readonly allEvents: boolean;
  readonly queue = new MessageQueue();
  /** Bytes of `queue`, the batch being sent (until its transport took it) and `transportBytes`. */
  bytes = 0;
  /** What the transport held at its last count (`Sink.buffered`). */
  transportBytes = 0;
  /** Set while resuming: live messages wait here until the replay caught up. */
  held: OutMessage[] | null;
  heldBytes = 0;
  writing = false;
  closed = false;
  lags: number[] = [];
  /** Highest event seq handed to this subscriber. */
  lastSeq: number;
  /** Whether the transport took something since the hub's last tick. */
  progressed = false;
  /** Ticks in a row in which the subscriber held bytes and its transport took nothing. */
  stuckTicks = 0;
  #roomWaiters: { below: number; resolve: () => void }[] = [];

  constructor(
    readonly id: number,
    readonly keyId: string,
    readonly filter: LiveFilter,
    readonly sink: Sink,
    since: number | null,
    lastPublished: number,
  ) {
    this.allEvents = filter.channels.has("events") && !filter.deviceIds && !filter.eventTypes &&
      filter.metadata.length === 0;
    this.held = since !== null && filter.channels.has("events") ? [] : null;
    this.lastSeq = since ?? lastPublished;
  }

  /** The next batch to write (at most MAX_SEND_BATCH messages and about MAX_SEND_BYTES), taken off the queue. */
  takeBatch(): readonly OutMessage[] {
    return this.queue.take(MAX_SEND_BATCH, MAX_SEND_BYTES);
  }

  /**
   * Replaces the backlog of `which` with one `lagged` message saying what was skipped, and goes on
   * from `lastPublished`. Returns the change in the subscriber's bytes.
   */
  skipAhead(which: "queue" | "held", lastPublished: number): number {
    const backlog: Iterable<OutMessage> = which === "queue" ? this.queue : this.held!;
    let first: number | null = null;
    let missed = 0;
    let dropped = 0;
    for (const m of backlog) {
      if (first === null && m.type === "event") first = m.seq;
      missed++;
      dropped += messageBytes(m);
    }
    const lag = lagMessage(first ?? this.lastSeq, lastPublished, missed, lastPublished);
    if (which === "queue") {
      this.queue.clear();
      this.queue.push(lag);
    } else this.held = [lag];
    const delta = messageBytes(lag) - dropped;
    if (which === "queue") this.bytes += delta;
    else this.heldBytes += delta;
    this.lastSeq = lastPublished;
    return delta;
  }

  /** Resolves once the subscriber holds at most `below` bytes, or is closed. */
  room(below: number): Promise<void> {
    if (this.closed || this.bytes <= below) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push({ below, resolve }));
  }

  /** Called after a write was taken: wakes the waiters that now have room. */
  madeRoom(): void {
    if (this.#roomWaiters.length === 0) return;
    this.#roomWaiters = this.#roomWaiters.filter((w) => {
      if (this.bytes > w.below) return true;
      w.resolve();
      return false;
    });
  }

  /**
   * Whether the total byte bound closes this subscriber before `other`: first those whose transport
   * took nothing in the last tick (`stuckTicks`), then the one holding more. A reader momentarily
   * behind (a burst, a pause of the server) is not closed while one that stopped reading holds bytes.
   */
  closesBefore(other: Subscriber): boolean {
    const stuck = this.stuckTicks > 0;
    if (stuck !== other.stuckTicks > 0) return stuck;
    return this.bytes + this.heldBytes > other.bytes + other.heldBytes;
  }

  /** Stops the fan-out to this subscriber: its buffers are released and waiters woken. */
  close(): void {
    this.closed = true;
    this.queue.clear();
    this.held = null;
    this.bytes = 0;
    this.transportBytes = 0;
    this.heldBytes = 0;
    for (const w of this.#roomWaiters) w.resolve();
    this.#roomWaiters = [];
  }
}
