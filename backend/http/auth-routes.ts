/**
 * `GET /v1/auth/whoami`: who the presented key is (id, name, scopes), for
 * clients such as the dashboard that show views by scope. Any valid key may
 * ask; a missing, unknown, revoked or expired key gets 401.
 */
import { Hono } from "hono";
import { ALL_SCOPES, apiKeyFromHeaders, authenticate, type Principal } from "../auth/api-keys.ts";
import { ForbiddenError } from "../errors.ts";
import type { AppEnv } from "./app-env.ts";
import type { AuthDeps } from "./require-scope.ts";

export function authRoutes(deps: { auth: AuthDeps }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/whoami", async (c) => {
    const { auth } = deps;
    const secret = apiKeyFromHeaders(c.req.raw.headers);
    let principal: Principal | null = null;
    // A key has at least one scope; try each until one authenticates (401s surface at once).
    for (const scope of ALL_SCOPES) {
      try {
        principal = await authenticate(auth.store, secret, { scope, clock: auth.clock, hasher: auth.hasher });
        break;
      } catch (error) {
        if (!(error instanceof ForbiddenError)) throw error;
      }
    }
    if (!principal) throw new ForbiddenError("API key has no scope");
    auth.usage.record(principal.keyId, auth.clock.now());
    return c.json(
      {
        status: "success",
        data: { keyId: principal.keyId, name: principal.name, scopes: principal.scopes },
      },
      200,
      { "Cache-Control": "no-store" },
    );
  });
  return app;
}
