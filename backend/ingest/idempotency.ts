/**
 * Idempotency-Key handling for ingest requests, scoped per API key:
 * - a request whose key is still in flight → 409 (ConflictError);
 * - a completed 2xx request replayed with the same payload → its status and
 *   body verbatim (the caller adds `Idempotent-Replayed: true`);
 * - the same key with a different payload → 422 (UnprocessableError);
 *   payloads compare as parsed JSON, insensitive to object key order;
 * - only 2xx outcomes are remembered, so a corrected retry after a 4xx works;
 * - records live in the store for `ttlMs` (survive restarts and SIGKILL: the
 *   record is written before the response is sent) and are purged afterwards.
 * The in-flight set is per process; with several instances the store-level
 * record and the derived event ids still keep storage exactly-once.
 *
 * `begin` reads no store: outcomes completed here recently are answered from a
 * bounded memory map, and anything else proceeds on the prediction that no
 * record exists, which the commit checks in its transaction
 * (`IdempotencyRecord.predictedNewIds`). When it fails, `stored` reads the
 * record (replay or 422) — so a first request costs no read on the request
 * thread, and the store stays the only truth.
 */
import type { Clock } from "../clock.ts";
import { ConflictError, UnprocessableError, ValidationError } from "../errors.ts";
import type { IdempotencyRecord, Store } from "../store/store.ts";
import { createMacrotask } from "./macrotask.ts";
import { UnparsableMarker } from "./ingest-service.ts";

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
/** Bounds of each generation of recent outcomes: entries, total body characters; and of one body. */
const RECENT_GENERATION_ENTRIES = 5_000;
const RECENT_GENERATION_CHARS = 4 * 2 ** 20;
const RECENT_MAX_BODY = 64 * 1024;

interface Remembered {
  fingerprint: string;
  status: number;
  body: string;
  expiresAt: number;
}
const encoder = new TextEncoder();

/** A request that holds its Idempotency-Key until `finish`. */
export interface IdempotencyTicket {
  keyId: string;
  idemKey: string;
  fingerprint: string;
  /** `keyId` and `idemKey` as one string: the key of the in-flight set and the recent outcomes. */
  slot: string;
  /**
   * Prefix for ids of events without an id: stable for (API key, Idempotency-Key); item `i` gets
   * `<prefix><i>`. Empty for a single event whose key is itself a valid event id (the key is the id).
   */
  derivedIdPrefix: string;
}

export type IdempotencyStart =
  | { kind: "replay"; status: number; body: string }
  | { kind: "proceed"; ticket: IdempotencyTicket };

export class IdempotencyGuard {
  #inFlight = new Set<string>();
  // Two generations: new outcomes go into the young one; when it is full it becomes the old one
  // and the previous old one is dropped. O(1) per request, and at most two generations in memory.
  #young = new Map<string, Remembered>();
  #youngChars = 0;
  #old = new Map<string, Remembered>();
  // Records of requests finishing at about the same time share one transaction (like events do).
  #pending: { record: IdempotencyRecord; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #saving = false;
  #tick = createMacrotask(() => void this.#save());

  constructor(private readonly store: Store, private readonly clock: Clock, private readonly ttlMs: number) {}

  /** The header value, validated: printable ASCII, 1–255 characters. */
  static parseHeader(value: string | undefined): string | null {
    if (value === undefined) return null;
    if (!KEY_PATTERN.test(value)) {
      throw new ValidationError("Invalid Idempotency-Key", [
        { field: "idempotency-key", message: "must be 1-255 printable ASCII characters without spaces" },
      ]);
    }
    return value;
  }

  /**
   * Claims the key for this request, or answers with the remembered outcome. Synchronous for a
   * single event whose key is a valid event id (`keyIsEventId`: the hot path, no promise to create
   * and await); otherwise the derived-id prefix needs a digest, so the caller gets a promise.
   */
  begin(
    keyId: string,
    idemKey: string,
    payload: { kind: string; items: readonly unknown[] },
    options: { keyIsEventId?: boolean } = {},
  ): IdempotencyStart | Promise<IdempotencyStart> {
    const slot = `${keyId}\u0000${idemKey}`;
    // Claimed synchronously, before any await, so two concurrent requests cannot both pass.
    if (this.#inFlight.has(slot)) {
      throw new ConflictError("A request with this Idempotency-Key is still in progress", "idempotency-key");
    }
    this.#inFlight.add(slot);
    try {
      const fingerprint = payloadFingerprint({ kind: payload.kind, items: payload.items });
      const recent = this.#young.get(slot) ?? this.#old.get(slot);
      if (recent && recent.expiresAt > this.clock.now()) {
        this.#inFlight.delete(slot);
        return replayOf(recent, fingerprint);
      }
      if (payload.kind === "single" && options.keyIsEventId) {
        return { kind: "proceed", ticket: { keyId, idemKey, fingerprint, slot, derivedIdPrefix: "" } };
      }
      return sha256Hex(slot).then(
        (digest): IdempotencyStart => ({
          kind: "proceed",
          ticket: { keyId, idemKey, fingerprint, slot, derivedIdPrefix: `idem-${digest.slice(0, 32)}-` },
        }),
        (error) => {
          this.#inFlight.delete(slot);
          throw error;
        },
      );
    } catch (error) {
      this.#inFlight.delete(slot);
      throw error;
    }
  }

  /**
   * The stored outcome for `ticket`'s key, after the commit found its prediction stale: null when
   * there is none; throws the 422 when it was made with a different payload.
   */
  async stored(ticket: IdempotencyTicket): Promise<{ status: number; body: string } | null> {
    const record = await this.store.getIdempotencyRecord(ticket.keyId, ticket.idemKey, this.clock.now());
    return record ? replayOf(record, ticket.fingerprint) : null;
  }

  /** The record that remembers `outcome` for `ticket` (committed with the request's events). */
  record(ticket: IdempotencyTicket, outcome: { status: number; body: string }): IdempotencyRecord {
    const now = this.clock.now();
    return {
      keyId: ticket.keyId,
      idemKey: ticket.idemKey,
      fingerprint: ticket.fingerprint,
      status: outcome.status,
      body: outcome.body,
      createdAt: now,
      expiresAt: now + this.ttlMs,
    };
  }

  /**
   * Releases the key; first remembers a 2xx `outcome` (before the response is sent), or the
   * record of it that was committed with the events (`committed`). Returns a promise only when the
   * outcome still has to be written (the committed record and non-2xx outcomes need no write).
   */
  finish(
    ticket: IdempotencyTicket,
    outcome: { status: number; body: string } | null,
    committed: IdempotencyRecord | null = null,
  ): Promise<void> | undefined {
    if (committed || !outcome || outcome.status < 200 || outcome.status >= 300) {
      if (committed) this.#remember(ticket.slot, committed);
      this.#inFlight.delete(ticket.slot);
      return undefined;
    }
    const record = this.record(ticket, outcome);
    return this.#enqueue(record).then(
      () => {
        this.#remember(ticket.slot, record);
        this.#inFlight.delete(ticket.slot);
      },
      (error) => {
        this.#inFlight.delete(ticket.slot);
        throw error;
      },
    );
  }

  /** Keeps a durable outcome in the bounded memory of recent outcomes. */
  #remember(slot: string, r: IdempotencyRecord): void {
    if (r.body.length > RECENT_MAX_BODY) return;
    if (this.#young.size >= RECENT_GENERATION_ENTRIES || this.#youngChars >= RECENT_GENERATION_CHARS) {
      this.#old = this.#young;
      this.#young = new Map();
      this.#youngChars = 0;
    }
    this.#young.set(slot, {
      fingerprint: r.fingerprint,
      status: r.status,
      body: r.body,
      expiresAt: r.expiresAt,
    });
    this.#youngChars += r.body.length;
  }

  /** Releases the batching channel. */
  close(): void {
    this.#tick.close();
  }

  #enqueue(record: IdempotencyRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ record, resolve, reject });
      if (!this.#saving) this.#tick.schedule();
    });
  }

  async #save(): Promise<void> {
    if (this.#saving || this.#pending.length === 0) return;
    this.#saving = true;
    const batch = this.#pending.splice(0, 1000);
    try {
      await this.store.saveIdempotencyRecords(batch.map((p) => p.record));
      for (const p of batch) p.resolve();
    } catch (error) {
      for (const p of batch) p.reject(error);
    } finally {
      this.#saving = false;
      if (this.#pending.length > 0) this.#tick.schedule();
    }
  }

  /** Deletes expired records; run periodically. */
  purgeExpired(): Promise<number> {
    return this.store.purgeIdempotencyRecords(this.clock.now());
  }
}

/** The replay of `remembered` for a request with `fingerprint`, or the 422 when they differ. */
function replayOf(
  remembered: { fingerprint: string; status: number; body: string },
  fingerprint: string,
): IdempotencyStart & { kind: "replay" } {
  if (remembered.fingerprint !== fingerprint) {
    throw new UnprocessableError(
      "This Idempotency-Key was already used with a different payload",
      "idempotency-key",
    );
  }
  return { kind: "replay", status: remembered.status, body: remembered.body };
}

/** JSON with object keys sorted at every level, so key order does not change the fingerprint. */
export function canonicalJson(value: unknown): string {
  if (value instanceof UnparsableMarker) return JSON.stringify({ $unparsable: value.unparsable });
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value).sort().map((k) =>
      `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`
    );
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * 64-bit fingerprint of a canonical payload: FNV-1a and a second, differently
 * seeded multiplicative hash over the UTF-16 code units, hex. Synchronous and
 * ~20× cheaper than a WebCrypto SHA-256 call per request. Collisions can only
 * confuse two payloads sent by the same API key under the same
 * Idempotency-Key, so a cryptographic hash buys nothing here.
 */
export function fingerprintOf(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0") +
    text.length.toString(16);
}

/**
 * `fingerprintOf(canonicalJson(value))` without building the canonical text: the same characters
 * are fed to the same hash as the walk produces them (about 3 % of an idempotent single-event
 * request went into the intermediate strings). Stored records keep matching across the change.
 */
export function payloadFingerprint(value: unknown): string {
  fpA = 0x811c9dc5;
  fpB = 0x9e3779b9;
  fpLength = 0;
  walk(value);
  return (fpA >>> 0).toString(16).padStart(8, "0") + (fpB >>> 0).toString(16).padStart(8, "0") +
    fpLength.toString(16);
}

// The running state of `payloadFingerprint` (module-level: one call at a time, no closures to
// allocate per request).
let fpA = 0;
let fpB = 0;
let fpLength = 0;

function feed(text: string): void {
  let a = fpA;
  let b = fpB;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  fpA = a;
  fpB = b;
  fpLength += text.length;
}

/**
 * Nesting depth up to which the walk recurses. A valid event is far shallower (`MAX_DATA_DEPTH`
 * is at most 256); deeper subtrees — invalid, refused by validation after this — are walked with
 * an explicit stack, so a hostile depth (a 10 MiB body of `[`) cannot overflow the call stack.
 */
const RECURSION_DEPTH = 320;

function walk(v: unknown, depth = 0): void {
  if (v instanceof UnparsableMarker || v === null || typeof v !== "object") return feed(canonicalJson(v));
  if (depth >= RECURSION_DEPTH) return walkDeep(v);
  if (Array.isArray(v)) {
    feed("[");
    for (let i = 0; i < v.length; i++) {
      if (i > 0) feed(",");
      walk(v[i], depth + 1);
    }
    return feed("]");
  }
  const keys = objectKeys(v);
  feed("{");
  for (let i = 0; i < keys.length; i++) {
    feed(keyPrefix(keys, i));
    walk((v as Record<string, unknown>)[keys[i]], depth + 1);
  }
  feed("}");
}

/** Text between values: kept apart from the values on the explicit stack of `walkDeep`. */
class Token {
  constructor(readonly text: string) {}
}

/** `walk` without recursion: the same characters fed in the same order. */
function walkDeep(root: object): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v instanceof Token) {
      feed(v.text);
      continue;
    }
    if (v instanceof UnparsableMarker || v === null || typeof v !== "object") {
      feed(canonicalJson(v));
      continue;
    }
    if (Array.isArray(v)) {
      feed("[");
      stack.push(new Token("]"));
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push(v[i]);
        if (i > 0) stack.push(new Token(","));
      }
      continue;
    }
    const keys = objectKeys(v);
    feed("{");
    stack.push(new Token("}"));
    for (let i = keys.length - 1; i >= 0; i--) {
      stack.push((v as Record<string, unknown>)[keys[i]], new Token(keyPrefix(keys, i)));
    }
  }
}

/** An object's keys in canonical (sorted) order. */
function objectKeys(v: object): string[] {
  const keys = Object.keys(v);
  // Clients usually send keys in one order; sort only when they are not already sorted.
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1] > keys[i]) {
      keys.sort();
      break;
    }
  }
  return keys;
}

function keyPrefix(keys: readonly string[], i: number): string {
  return i > 0 ? `,${JSON.stringify(keys[i])}:` : `${JSON.stringify(keys[i])}:`;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  let hex = "";
  for (const b of digest) hex += b.toString(16).padStart(2, "0");
  return hex;
}
