/**
 * The open ingest WebSockets (`GET /v1/ingest`), per API key and in total.
 *
 * A slot is reserved before the upgrade (so a refused client gets an HTTP
 * answer: 429 when its key holds `maxConnectionsPerKey`, 503 when the server
 * holds `maxConnections`) and released when the socket closes. The caps also
 * bound what the runtime may buffer for frames before our size check sees
 * them: on Deno a message of up to 64 MiB is assembled by the runtime first
 * (`Deno.upgradeWebSocket` has no size option), so the worst case there is
 * `maxConnections` such messages at once (see docs/CONFIGURATION.md).
 *
 * While sockets are open, their keys are re-read every `checkEveryMs`: the
 * sockets of a key that was revoked or has expired are closed with
 * `CLOSE_KEY_REFUSED` (commits of such a key are refused anyway; this frees
 * the socket within a second).
 */
import type { Clock } from "../clock.ts";
import { KeyConcurrencyError, OverloadedError } from "../errors.ts";
import { keyProblem } from "../auth/key-cache.ts";
import type { Logger } from "../logger.ts";
import type { Store } from "../store/store.ts";
import type { WsIngestLimits } from "../config.ts";

/** Close code for a socket whose key was revoked or has expired. */
export const CLOSE_KEY_REFUSED = 4401;
/** Close code for a frame larger than the frame limit (RFC 6455 "message too big"). */
export const CLOSE_TOO_BIG = 1009;

/** One reserved slot; `close` is set once the socket is open. */
export interface IngestSocketSlot {
  readonly keyId: string;
  close?: (code: number, reason: string) => void;
}

export class IngestSockets {
  #byKey = new Map<string, Set<IngestSocketSlot>>();
  #total = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking = false;

  constructor(
    private readonly deps: { store: Store; clock: Clock; logger: Logger; limits: WsIngestLimits },
    private readonly checkEveryMs = 250,
  ) {}

  /** Sockets open (or being upgraded) now. */
  get size(): number {
    return this.#total;
  }

  /** Reserves a slot for `keyId`, or throws the 429/503 the upgrade request gets. */
  reserve(keyId: string): IngestSocketSlot {
    const { maxConnections, maxConnectionsPerKey } = this.deps.limits;
    const mine = this.#byKey.get(keyId);
    if ((mine?.size ?? 0) >= maxConnectionsPerKey) {
      this.deps.logger.warn("websocket ingest refused", {
        keyId,
        reason: "per-key cap",
        cap: maxConnectionsPerKey,
      });
      throw new KeyConcurrencyError(
        `This API key already holds ${maxConnectionsPerKey} ingest WebSockets (WS_INGEST_MAX_CONNECTIONS_PER_KEY); close one first`,
        1,
        "connection",
      );
    }
    if (this.#total >= maxConnections) {
      this.deps.logger.warn("websocket ingest refused", { keyId, reason: "total cap", cap: maxConnections });
      throw new OverloadedError(
        1,
        `The server holds ${maxConnections} ingest WebSockets (WS_INGEST_MAX_CONNECTIONS); retry later`,
      );
    }
    const slot: IngestSocketSlot = { keyId };
    if (mine) mine.add(slot);
    else this.#byKey.set(keyId, new Set([slot]));
    this.#total++;
    this.#timer ??= setInterval(() => void this.#checkKeys(), this.checkEveryMs);
    return slot;
  }

  /** Frees `slot` (idempotent). */
  release(slot: IngestSocketSlot): void {
    const mine = this.#byKey.get(slot.keyId);
    if (!mine?.delete(slot)) return;
    this.#total--;
    if (mine.size === 0) this.#byKey.delete(slot.keyId);
    if (this.#total === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Closes every socket of `keyId` with `code` and `reason`; returns how many. */
  closeKey(keyId: string, code: number, reason: string): number {
    const mine = [...(this.#byKey.get(keyId) ?? [])];
    for (const slot of mine) {
      slot.close?.(code, reason);
      this.release(slot);
    }
    return mine.length;
  }

  /** Closes the sockets of keys that can no longer ingest (revoked, expired, deleted). */
  async #checkKeys(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      for (const keyId of [...this.#byKey.keys()]) {
        let problem;
        try {
          problem = keyProblem(await this.deps.store.getApiKey(keyId), this.deps.clock.now());
        } catch {
          continue; // store unavailable: check again next round; commits are refused meanwhile
        }
        if (!problem) continue;
        const closed = this.closeKey(keyId, CLOSE_KEY_REFUSED, problem.message);
        this.deps.logger.warn("websocket ingest closed", { keyId, reason: problem.message, sockets: closed });
      }
    } finally {
      this.#checking = false;
    }
  }
}
