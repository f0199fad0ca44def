/**
 * API key management: create (the secret is returned once), list (never the
 * secret or its hash), revoke. Every change is written to the audit log with
 * who did it and from where. Used by the admin HTTP API and the `keys` CLI.
 */
import { ALL_SCOPES, generateApiKeySecret, hashApiKey, type Scope } from "../auth/api-keys.ts";
import type { Clock } from "../clock.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import type { ApiKeyRecord, Store } from "../store/store.ts";

/** Who performs an admin action, for the audit log. */
export interface Actor {
  /** Key id of the caller, or `cli`. */
  id: string;
  address: string | null;
}

/** A key as shown to administrators. */
export interface ApiKeyView {
  id: string;
  name: string;
  scopes: string[];
  status: "active" | "revoked" | "expired";
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  /** The key's own event rate limit, or null when the server default applies. */
  rateLimit: { eventsPerSecond: number; burst: number } | null;
}

export interface KeyAdminDeps {
  store: Store;
  clock: Clock;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Renders a key without its hash. */
export function toApiKeyView(key: ApiKeyRecord, now: number): ApiKeyView {
  const status = key.revokedAt !== null
    ? "revoked"
    : key.expiresAt !== null && key.expiresAt <= now
    ? "expired"
    : "active";
  return {
    id: key.id,
    name: key.name,
    scopes: key.scopes,
    status,
    createdAt: new Date(key.createdAt).toISOString(),
    lastUsedAt: iso(key.lastUsedAt),
    expiresAt: iso(key.expiresAt),
    revokedAt: iso(key.revokedAt),
    rateLimit: key.rateLimit
      ? { eventsPerSecond: key.rateLimit.ratePerSecond, burst: key.rateLimit.burst }
      : null,
  };
}

/** Creates a key; the returned `secret` is the only time it is ever shown. */
export async function createApiKey(
  deps: KeyAdminDeps,
  params: { name: string; scopes: readonly Scope[]; expiresAt: number | null; actor: Actor },
): Promise<{ key: ApiKeyView; secret: string }> {
  const now = deps.clock.now();
  if (params.expiresAt !== null && params.expiresAt <= now) {
    throw new ValidationError("Invalid key", [{
      field: "expiresAt",
      message: "expiresAt must be in the future",
    }]);
  }
  const secret = generateApiKeySecret();
  const record: ApiKeyRecord = {
    id: `key_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`,
    name: params.name,
    keyHash: await hashApiKey(secret),
    scopes: ALL_SCOPES.filter((s) => params.scopes.includes(s)),
    createdAt: now,
    lastUsedAt: null,
    expiresAt: params.expiresAt,
    revokedAt: null,
    rateLimit: null,
  };
  await deps.store.createApiKey(record);
  await deps.store.appendAudit({
    at: now,
    actor: params.actor.id,
    action: "key.created",
    target: record.id,
    address: params.actor.address,
    details: { name: record.name, scopes: record.scopes, expiresAt: iso(record.expiresAt) },
  });
  return { key: toApiKeyView(record, now), secret };
}

export async function listApiKeys(deps: KeyAdminDeps): Promise<ApiKeyView[]> {
  const now = deps.clock.now();
  return (await deps.store.listApiKeys()).map((k) => toApiKeyView(k, now));
}

/** Revokes a key; it is refused from its very next request. Revoking twice keeps the first time. */
export async function revokeApiKey(
  deps: KeyAdminDeps,
  params: { id: string; actor: Actor },
): Promise<ApiKeyView> {
  const now = deps.clock.now();
  const before = await deps.store.getApiKey(params.id);
  if (!before) throw new NotFoundError(`No API key with id ${JSON.stringify(params.id.slice(0, 100))}`);
  const after = (await deps.store.revokeApiKey(params.id, now))!;
  if (before.revokedAt === null) {
    await deps.store.appendAudit({
      at: now,
      actor: params.actor.id,
      action: "key.revoked",
      target: params.id,
      address: params.actor.address,
      details: { name: before.name },
    });
  }
  return toApiKeyView(after, now);
}

/** Sets or clears (`null`) a key's own event rate limit; applies from the key's next request. */
export async function setApiKeyRateLimit(
  deps: KeyAdminDeps,
  params: { id: string; rateLimit: { eventsPerSecond: number; burst: number } | null; actor: Actor },
): Promise<ApiKeyView> {
  const now = deps.clock.now();
  const before = await deps.store.getApiKey(params.id);
  if (!before) throw new NotFoundError(`No API key with id ${JSON.stringify(params.id.slice(0, 100))}`);
  const limit = params.rateLimit &&
    { ratePerSecond: params.rateLimit.eventsPerSecond, burst: params.rateLimit.burst };
  const after = (await deps.store.setApiKeyRateLimit(params.id, limit))!;
  await deps.store.appendAudit({
    at: now,
    actor: params.actor.id,
    action: "key.rate_limit_changed",
    target: params.id,
    address: params.actor.address,
    details: { before: toApiKeyView(before, now).rateLimit, after: toApiKeyView(after, now).rateLimit },
  });
  return toApiKeyView(after, now);
}
