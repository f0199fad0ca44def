import type { MiddlewareHandler } from "hono";
import { apiKeyFromHeaders, type ApiKeyHasher, authenticate, type Scope } from "../auth/api-keys.ts";
import type { ApiKeyCache } from "../auth/key-cache.ts";
import type { KeyUsageRecorder } from "../auth/key-usage.ts";
import type { Clock } from "../clock.ts";
import type { Store } from "../store/store.ts";
import type { AppEnv } from "./app-env.ts";

/** What authentication needs; one instance per app. */
export interface AuthDeps {
  store: Store;
  clock: Clock;
  hasher: ApiKeyHasher;
  usage: KeyUsageRecorder;
  /** Key records for ingestion, whose commits re-check the key (see key-cache.ts). */
  cache?: ApiKeyCache;
}

/**
 * Authenticates the request's key and requires `scope`; sets `principal`. With `queryKey`, a key
 * in the `apiKey` query parameter is accepted too (EventSource and browser WebSockets cannot send
 * headers); headers win when both are present. With `cachedKey`, the key record may come from
 * `deps.cache`: only for routes whose every effect is a commit made for the key (ingestion).
 */
export function requireScope(
  scope: Scope,
  deps: AuthDeps,
  options: { queryKey?: boolean; cachedKey?: boolean } = {},
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const secret = apiKeyFromHeaders(c.req.raw.headers) ??
      (options.queryKey ? c.req.query("apiKey") ?? null : null);
    const principal = await authenticate(deps.store, secret, {
      scope,
      clock: deps.clock,
      hasher: deps.hasher,
      cache: options.cachedKey ? deps.cache : undefined,
    });
    deps.usage.record(principal.keyId, deps.clock.now());
    c.set("principal", principal);
    await next();
  };
}
