/**
 * Builds the transport frame of a batch of live messages once for every
 * subscriber that is handed the same batch.
 *
 * The hub gives every subscriber of a published message the same `OutMessage`
 * object, and subscribers that were handed the same messages since their last
 * write drain the same batch (element for element). Rendering that batch —
 * a WebSocket frame of ~100 events is ~25 kB of text — once instead of once
 * per subscriber is what lets 100 subscribers cost little more than one.
 *
 * A batch is recognised by identity: same length and the same message objects
 * in the same order (a pointer comparison per message, far cheaper than
 * rendering). The few most recently used batches are kept, so that a filtered
 * subscriber's different batch, drained between two unfiltered ones, does not
 * evict theirs.
 */
import type { OutMessage } from "./live-hub.ts";

/** How many recent batches are remembered. */
const RECENT_BATCHES = 4;

export class SharedFrames<T> {
  #recent: { messages: readonly OutMessage[]; frame: T }[] = [];
  #built = 0;
  #reused = 0;

  /** `render` turns a batch into its frame; it must depend only on the messages. */
  constructor(private readonly render: (messages: readonly OutMessage[]) => T) {}

  /** The frame of `messages`: rendered now, or the one rendered for an identical batch. */
  frame(messages: readonly OutMessage[]): T {
    for (let i = 0; i < this.#recent.length; i++) {
      const entry = this.#recent[i];
      if (!sameMessages(entry.messages, messages)) continue;
      this.#reused++;
      if (i > 0) this.#recent.unshift(...this.#recent.splice(i, 1)); // most recently used first
      return entry.frame;
    }
    const frame = this.render(messages);
    this.#built++;
    this.#recent.unshift({ messages, frame });
    if (this.#recent.length > RECENT_BATCHES) this.#recent.pop();
    return frame;
  }

  /** Frames rendered and frames reused since creation (for tests and diagnostics). */
  get counts(): { built: number; reused: number } {
    return { built: this.#built, reused: this.#reused };
  }
}

function sameMessages(a: readonly OutMessage[], b: readonly OutMessage[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
