/**
 * A resume's replay: the events a subscriber missed, read from the store in
 * small pages, in seq order, with a yield to other work (ingestion, other
 * subscribers) between pages and a wait whenever the subscriber's buffer is
 * full, so that neither the event loop nor the subscriber's bytes are held
 * by a `since=0` over a large store. At most `replayLimit` events are
 * replayed; beyond that a `lagged` message says what was skipped and the
 * subscriber continues live from the newest event.
 */
import type { StoredEvent } from "../../shared/event.ts";
import { nextMacrotask } from "../ingest/macrotask.ts";
import { eventMessage, lagMessage, matchesEvent, messageBytes, type OutMessage } from "./live-messages.ts";
import type { Subscriber } from "./subscriber.ts";

/** Events read from the store per replay step (a few ms of work). */
const REPLAY_PAGE = 200;

export interface ReplayDeps {
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
      const page = await deps.readEventsAfter(after, Math.min(REPLAY_PAGE, replayLimit - replayed + 1));
      if (page.length === 0) break;
      for (const e of page) {
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
        if (!matchesEvent(sub.filter, e)) continue;
        const m = eventMessage(e);
        // Backpressure: a replay never overflows its own subscriber; it waits for room.
        if (sub.bytes + messageBytes(m) > maxBufferedBytes && sub.bytes > 0) {
          await sub.room(maxBufferedBytes / 2);
        }
        if (sub.closed) return;
        deps.push(m);
      }
      sub.lastSeq = Math.max(sub.lastSeq, after);
      if (after >= deps.lastSeq()) break;
      await nextMacrotask(); // ingestion and other subscribers run between pages
    }
    sub.lastSeq = Math.max(sub.lastSeq, after);
    deps.release();
  } catch {
    deps.close("replay failed");
  }
}
