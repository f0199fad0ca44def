/**
 * API keys. A key is `psk_` + 32 random bytes (base64url): high entropy, so a
 * single SHA-256 is the right stored form (a slow password hash buys nothing
 * against brute force of 256 bits and would cost every request). Keys are
 * looked up by hash and then compared in constant time. Only ingestion may take
 * the record from an `ApiKeyCache`, because its commits re-check the key inside
 * their own transaction; every other request reads the store. Either way a
 * revoked or expired key is refused on its very next request.
 */
import { ForbiddenError, UnauthorizedError } from "../errors.ts";
import type { Clock } from "../clock.ts";
import type { ApiKeyRecord, Store } from "../store/store.ts";
import type { Logger } from "../logger.ts";
import { type ApiKeyCache, keyProblem } from "./key-cache.ts";

/** What a key may do. */
export type Scope = "ingest" | "read" | "admin";
export const ALL_SCOPES: readonly Scope[] = ["ingest", "read", "admin"];

/** The authenticated caller. */
export interface Principal {
  keyId: string;
  name: string;
  scopes: readonly string[];
  /** The key's own event rate limit, or null for the configured default. */
  rateLimit: { ratePerSecond: number; burst: number } | null;
}

const encoder = new TextEncoder();

/** Hex SHA-256 of a key secret. */
export async function hashApiKey(secret: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(secret));
  return toHex(new Uint8Array(digest));
}

/** A new random key secret. */
export function generateApiKeySecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `psk_${base64url(bytes)}`;
}

/**
 * Hashes key secrets with a bounded memo: SHA-256 through WebCrypto is an
 * async call costing ~19 µs under Deno, a third of the single-event request
 * budget, and the same few keys arrive on every request. Only the
 * secret→hash mapping is memoised; the key record itself is read from the store
 * (or, for ingestion, from `ApiKeyCache`), so revocation takes effect at once.
 */
export class ApiKeyHasher {
  #memo = new Map<string, string>();
  constructor(private readonly maxEntries = 1024) {}

  async hash(secret: string): Promise<string> {
    const known = this.#memo.get(secret);
    if (known !== undefined) return known;
    const hash = await hashApiKey(secret);
    if (this.#memo.size >= this.maxEntries) this.#memo.clear();
    this.#memo.set(secret, hash);
    return hash;
  }
}

/** Extracts the key from `x-api-key` or `Authorization: Bearer`. */
export function apiKeyFromHeaders(headers: Headers): string | null {
  const direct = headers.get("x-api-key");
  if (direct) return direct.trim();
  const auth = headers.get("authorization");
  const match = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return match ? match[1] : null;
}

/**
 * Authenticates `secret` and checks `scope`. Throws `UnauthorizedError` (401)
 * for a missing, unknown, revoked or expired key and `ForbiddenError` (403)
 * for a valid key without the scope.
 */
export async function authenticate(
  store: Store,
  secret: string | null,
  options: { scope: Scope; clock: Clock; hasher: ApiKeyHasher; cache?: ApiKeyCache },
): Promise<Principal> {
  const principal = await identify(store, secret, options);
  if (!principal.scopes.includes(options.scope)) {
    throw new ForbiddenError(`API key lacks the '${options.scope}' scope`);
  }
  return principal;
}

/**
 * Authenticates `secret` whatever its scopes (one store lookup): throws `UnauthorizedError` (401)
 * for a missing, unknown, revoked or expired key. For callers that only ask who a key is.
 */
export async function identify(
  store: Store,
  secret: string | null,
  options: { clock: Clock; hasher: ApiKeyHasher; cache?: ApiKeyCache },
): Promise<Principal> {
  if (!secret) throw new UnauthorizedError("Missing API key: send x-api-key or Authorization: Bearer <key>");
  if (secret.length > 512) throw new UnauthorizedError("Invalid API key");
  const hash = await options.hasher.hash(secret);
  const found = await (options.cache ? options.cache.find(hash) : store.findApiKeyByHash(hash));
  const record = found && constantTimeEqual(found.keyHash, hash) ? found : null;
  const problem = keyProblem(record, options.clock.now());
  if (problem || !record) throw problem ?? new UnauthorizedError("Invalid API key");
  return { keyId: record.id, name: record.name, scopes: record.scopes, rateLimit: record.rateLimit };
}

/** Compares two strings in time independent of where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Makes sure a usable key exists at start: `BOOTSTRAP_API_KEY` is stored (all
 * scopes) if its hash is not there yet; a store with no keys at all gets a new
 * random admin key, printed once. Returns the printed secret, if any.
 */
export async function ensureStartupKeys(
  store: Store,
  options: { bootstrapKey: string | undefined; clock: Clock; logger: Logger; print: (line: string) => void },
): Promise<string | null> {
  if (options.bootstrapKey) {
    const hash = await hashApiKey(options.bootstrapKey);
    if (!(await store.findApiKeyByHash(hash))) {
      await store.createApiKey(newKeyRecord("bootstrap", hash, options.clock.now()));
      options.logger.info("bootstrap API key stored", { scopes: ALL_SCOPES });
    }
    return null;
  }
  if ((await store.countApiKeys()) > 0) return null;
  const secret = generateApiKeySecret();
  await store.createApiKey(newKeyRecord("initial admin", await hashApiKey(secret), options.clock.now()));
  options.print(
    `PulseStream: no API keys existed, so an admin key was created. It is shown only this once:\n  ${secret}\n`,
  );
  return secret;
}

function newKeyRecord(name: string, keyHash: string, now: number): ApiKeyRecord {
  return {
    id: `key_${toHex(crypto.getRandomValues(new Uint8Array(8)))}`,
    name,
    keyHash,
    scopes: [...ALL_SCOPES],
    createdAt: now,
    lastUsedAt: null,
    expiresAt: null,
    revokedAt: null,
    rateLimit: null,
  };
}

function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
