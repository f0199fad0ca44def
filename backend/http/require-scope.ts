import type { MiddlewareHandler } from "hono";
import { apiKeyFromHeaders, type ApiKeyHasher, authenticate, type Scope } from "../auth/api-keys.ts";
import type { Clock } from "../clock.ts";
import type { Store } from "../store/store.ts";
import type { AppEnv } from "./app-env.ts";

/** Authenticates the request's key and requires `scope`; sets `principal`. */
export function requireScope(
  scope: Scope,
  deps: { store: Store; clock: Clock; hasher: ApiKeyHasher },
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = await authenticate(deps.store, apiKeyFromHeaders(c.req.raw.headers), {
      scope,
      clock: deps.clock,
      hasher: deps.hasher,
    });
    c.set("principal", principal);
    await next();
  };
}
