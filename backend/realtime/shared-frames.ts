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
import type { OutMessage } from "./live-messages.ts";

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

const ascii = new TextEncoder();

/**
 * Writes each message's envelope (ASCII) and its UTF-8 body, encoded once when the message was
 * built, into one buffer: `head(m)` + body + `tail` per message, `open`/`close` around them.
 */
function concatFrames(
  messages: readonly OutMessage[],
  head: (m: OutMessage, i: number) => string,
  tail: string,
  open = "",
  close = "",
): Uint8Array {
  const heads = messages.map(head);
  let size = open.length + close.length;
  for (let i = 0; i < messages.length; i++) size += heads[i].length + messages[i].body.length + tail.length;
  const out = new Uint8Array(size);
  let at = ascii.encodeInto(open, out).written;
  for (let i = 0; i < messages.length; i++) {
    at += ascii.encodeInto(heads[i], out.subarray(at)).written;
    out.set(messages[i].body, at);
    at += messages[i].body.length;
    at += ascii.encodeInto(tail, out.subarray(at)).written;
  }
  ascii.encodeInto(close, out.subarray(at));
  return out;
}

/** SSE frames of a batch: `id: <seq>`, `event: <type>`, one `data:` line (the JSON is single-line). */
export function sseBatchBytes(messages: readonly OutMessage[]): Uint8Array {
  return concatFrames(messages, (m) => `id: ${m.seq}\nevent: ${m.type}\ndata: `, "\n\n");
}

/** One WebSocket text frame per batch, as UTF-8: a single message as an object, several as an array. */
export function wsBatchBytes(messages: readonly OutMessage[]): Uint8Array {
  const head = (m: OutMessage, i: number) =>
    `${i === 0 ? "" : ","}{"seq":${m.seq},"type":"${m.type}","data":`;
  return messages.length === 1
    ? concatFrames(messages, head, "}")
    : concatFrames(messages, head, "}", "[", "]");
}

/** The same frame as text, for runtimes whose sockets send text frames only from strings (Deno). */
export function wsBatchText(messages: readonly OutMessage[]): string {
  const frame = (m: OutMessage) => `{"seq":${m.seq},"type":"${m.type}","data":${m.data}}`;
  return messages.length === 1 ? frame(messages[0]) : `[${messages.map(frame).join(",")}]`;
}
