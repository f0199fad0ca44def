/**
 * A resume's replay: the events a subscriber missed, read from the store in
 * small pages, in seq order, and a wait whenever the subscriber's buffer is
 * full, so that neither the event loop nor the subscriber's bytes are held
 * by a `since=0` over a large store. Concurrent replays take turns
 * (`ReplayTurns`): one page at a time for all of them, with a timer turn of
 * the event loop between pages, so that 100 replays starting together do not
 * run 100 pages before ingestion is served again. At most `replayLimit` events are
 * replayed; beyond that a `lagged` message says what was skipped and the
 * subscriber continues live from the newest event.
 *
 * Replays that start together (clients reconnecting after a restart, a
 * hundred `since=0`) read the same pages: a full page read once is kept for
 * the others (`ReplayPages`, the last few pages), with its messages built
 * once, so a hundred replays cost one store read and one JSON encoding per
 * page instead of a hundred, and share their message objects (the transports
 * then render a batch once for all of them, shared-frames.ts).
 */
import type { StoredEvent } from "../../shared/event.ts";
import { eventMessage, lagMessage, matchesEvent, messageBytes, type OutMessage } from "./live-messages.ts";
import type { Subscriber } from "./subscriber.ts";

/** Events read from the store per replay step (a few ms of work). */
const REPLAY_PAGE = 200;

/** One page at a time for every replay, with an event-loop turn (I/O included) between pages. */
export class ReplayTurns {
  #busy = false;
  #waiting: (() => void)[] = [];

  /** Waits for this replay's turn; the returned function ends it. */
  async take(): Promise<() => void> {
    if (this.#busy) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#busy = true;
    return () => {
      const next = this.#waiting.shift();
      // A timer, not a microtask or a message: the runtime polls I/O before it fires.
      if (next) setTimeout(next, 0);
      else this.#busy = false;
    };
  }
}

/** Full pages kept for replays that read the same range (a few: replays move in step). */
const KEPT_PAGES = 16;

interface Page {
  events: StoredEvent[];
  /** The message of each event, built once for every replay that reads the page. */
  messages: OutMessage[];
}

/**
 * The last full pages replays read, by the seq they start after. Only a full page is kept: the
 * events after a seq, `limit` of them, no longer change once all are committed (commits are made
 * in seq order), while a short page at the end of the store grows with the next commit.
 */
export class ReplayPages {
  #pages = new Map<string, Page>();
  #reads = 0;

  /** Pages read from the store (for tests and diagnostics). */
  get reads(): number {
    return this.#reads;
  }

  async read(
    readEventsAfter: (afterSeq: number, limit: number) => Promise<StoredEvent[]>,
    after: number,
    limit: number,
  ): Promise<Page> {
    const key = `${after}:${limit}`;
    const kept = this.#pages.get(key);
    if (kept) return kept;
    this.#reads++;
    const events = await readEventsAfter(after, limit);
    const page = { events, messages: events.map(eventMessage) };
    if (events.length === limit) {
      this.#pages.set(key, page);
      if (this.#pages.size > KEPT_PAGES) this.#pages.delete(this.#pages.keys().next().value!);
    }
    return page;
  }
}

export interface ReplayDeps {
  turns: ReplayTurns;
  pages: ReplayPages;
  readEventsAfter(afterSeq: number, limit: number): Promise<StoredEvent[]>;
  replayLimit: number;
  maxBufferedBytes: number;
  /** Seq of the last event published live. */
  lastSeq(): number;
  /** Queues a message for the subscriber. */
  push(m: OutMessage): void;
  /** Ends the replay: held live messages go out. */
  release(): void;
  close(reason: string): void;
}

/** Replays the events after `since` to `sub`, then releases its held live messages. */
export async function replayMissed(sub: Subscriber, since: number, deps: ReplayDeps): Promise<void> {
  const { replayLimit, maxBufferedBytes } = deps;
  let after = since;
  let replayed = 0;
  try {
    for (;;) {
      if (sub.closed) return;
      const done = await deps.turns.take();
      let page: StoredEvent[];
      let messages: OutMessage[];
      try {
        if (sub.closed) return;
        const read = await deps.pages.read(
          deps.readEventsAfter,
          after,
          Math.min(REPLAY_PAGE, replayLimit - replayed + 1),
        );
        page = read.events;
        messages = read.messages.map((m, i) => (matchesEvent(sub.filter, page[i]) ? m : null!));
      } finally {
        done();
      }
      if (page.length === 0) break;
      for (const [i, e] of page.entries()) {
        if (replayed === replayLimit) {
          // Too far behind: say what is skipped and continue live from the newest event.
          const last = deps.lastSeq();
          deps.push(lagMessage(e.seq, last, last - e.seq + 1, last));
          sub.lastSeq = last;
          deps.release();
          return;
        }
        after = e.seq;
        replayed++;
        const m = messages[i];
        if (!m) continue;
        // Backpressure: a replay never overflows its own subscriber; it waits for room.
        if (sub.bytes + messageBytes(m) > maxBufferedBytes && sub.bytes > 0) {
          await sub.room(maxBufferedBytes / 2);
        }
        if (sub.closed) return;
        deps.push(m);
      }
      sub.lastSeq = Math.max(sub.lastSeq, after);
      if (after >= deps.lastSeq()) break;
    }
    sub.lastSeq = Math.max(sub.lastSeq, after);
    deps.release();
  } catch {
    deps.close("replay failed");
  }
}
