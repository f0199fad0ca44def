/**
 * The live hub's ports: what a transport gives it (`Sink`), what it gives a
 * transport back (`LiveSubscription`), and its limits and dependencies.
 */
import type { StoredEvent } from "../../shared/event.ts";
import type { OutMessage } from "./live-messages.ts";

/** Where a subscriber's messages go (an SSE stream or a WebSocket). */
export interface Sink {
  /**
   * Sends messages in order, as few transport writes as the transport allows; resolves when the
   * transport has taken them (what it still holds is small and bounded). May stay pending for as
   * long as the peer does not read: the hub closes a sink whose send is pending too long.
   */
  send(messages: readonly OutMessage[]): Promise<void>;
  /**
   * Bytes the transport holds that the peer has not taken yet (a WebSocket's `bufferedAmount`),
   * for transports whose `send` resolves before that: they count in the subscriber's bytes.
   */
  buffered?(): number;
  /**
   * Ends the connection now with a reason (WebSocket close code 4008 / SSE `close` event), even
   * while a send is pending: a connection the hub closed is never left open.
   */
  close(reason: string): void;
}

/** A subscriber as its transport sees it (see `LiveHub.subscribe`). */
export interface LiveSubscription {
  /** The connection has ended: frees the subscriber's slot. Idempotent. */
  ended(): void;
  /** Closes the subscriber (its sink's `close` runs) with a log line naming `reason`. */
  close(reason: string): void;
}

/** The hub's limits (configured by the LIVE_* variables). */
export interface LiveLimits {
  /** Most messages queued per subscriber before it is skipped ahead. */
  queueLimit: number;
  /** Most bytes queued per subscriber (not yet taken by its transport) before it is skipped ahead. */
  maxBufferedBytes: number;
  /** Most bytes queued for all subscribers together; over it the one holding most is closed. */
  maxTotalBufferedBytes: number;
  /** A subscriber whose transport takes nothing for this long is closed, ms. */
  sendTimeoutMs: number;
  /** How often the keys of open subscriptions are checked (revoked or expired: closed), ms. */
  keyCheckMs: number;
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
  /** Why `keyId` may no longer read (revoked, expired, unknown), or null while it may. */
  keyProblem?: (keyId: string) => Promise<string | null>;
  /** Receives one line per subscriber the hub closes. */
  log?: (message: string, fields: Record<string, unknown>) => void;
}
