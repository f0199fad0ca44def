/**
 * A subscriber's queue of live messages, kept as the arrays they were handed
 * in: a commit's event messages are one array shared by every subscriber to
 * all events, so queueing a commit costs one push per subscriber instead of
 * one per message and subscriber, and a batch that is exactly one such array
 * is written as that array (the shared frame cache then recognises it by
 * identity, shared-frames.ts). Taking a batch off the front costs what the
 * batch holds, never what stays queued (no `splice` of a long backlog).
 */
import { messageBytes, type OutMessage } from "./live-messages.ts";

/** Consumed chunk slots kept at the front before the chunk list is compacted. */
const COMPACT_AFTER = 1024;

export class MessageQueue {
  #chunks: (readonly OutMessage[])[] = [];
  /** Index of the first chunk still holding messages, and of its first message not yet taken. */
  #first = 0;
  #offset = 0;
  #length = 0;
  /** The last chunk when `push` made it (this queue's own array, which `push` may extend). */
  #tail: OutMessage[] | null = null;

  /** Messages queued. */
  get length(): number {
    return this.#length;
  }

  /** Queues one message (a replay's, a filtered subscriber's): appended to this queue's own last array. */
  push(m: OutMessage): void {
    if (this.#tail) this.#tail.push(m);
    else {
      this.#tail = [m];
      this.#chunks.push(this.#tail);
    }
    this.#length++;
  }

  /** Queues `messages` (not copied: the caller must not change the array afterwards). */
  pushAll(messages: readonly OutMessage[]): void {
    if (messages.length === 0) return;
    this.#tail = null;
    this.#chunks.push(messages);
    this.#length += messages.length;
  }

  /**
   * Takes the next messages off the queue: at most `maxCount`, and while their bytes
   * (`messageBytes`) stay within `maxBytes`, but at least one. A batch that is exactly one queued
   * array is returned as that array.
   */
  take(maxCount: number, maxBytes: number): readonly OutMessage[] {
    if (this.#length === 0) return [];
    const head = this.#chunks[this.#first];
    if (this.#offset === 0 && head.length <= maxCount) {
      let bytes = 0;
      for (const m of head) bytes += messageBytes(m);
      const next = this.#chunks[this.#first + 1];
      const nextFits = next !== undefined && head.length < maxCount &&
        bytes + messageBytes(next[0]) <= maxBytes;
      if ((bytes <= maxBytes || head.length === 1) && !nextFits) {
        this.#dropFirst(head.length);
        return head;
      }
    }
    const out: OutMessage[] = [];
    let bytes = 0;
    while (this.#length > 0 && out.length < maxCount) {
      const chunk = this.#chunks[this.#first];
      const m = chunk[this.#offset];
      const size = messageBytes(m);
      if (out.length > 0 && bytes + size > maxBytes) break;
      out.push(m);
      bytes += size;
      this.#length--;
      if (++this.#offset === chunk.length) this.#nextChunk();
    }
    return out;
  }

  /** The queued messages in order. */
  *[Symbol.iterator](): IterableIterator<OutMessage> {
    for (let c = this.#first; c < this.#chunks.length; c++) {
      const chunk = this.#chunks[c];
      for (let i = c === this.#first ? this.#offset : 0; i < chunk.length; i++) yield chunk[i];
    }
  }

  clear(): void {
    this.#tail = null;
    this.#chunks = [];
    this.#first = 0;
    this.#offset = 0;
    this.#length = 0;
  }

  #dropFirst(count: number): void {
    this.#length -= count;
    this.#nextChunk();
  }

  #nextChunk(): void {
    // A chunk handed out whole or used up is never extended again.
    if (this.#chunks[this.#first] === this.#tail) this.#tail = null;
    this.#offset = 0;
    this.#first++;
    if (this.#first === this.#chunks.length) {
      this.#chunks = [];
      this.#first = 0;
    } else if (this.#first >= COMPACT_AFTER && this.#first * 2 >= this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#first);
      this.#first = 0;
    }
  }
}
