/**
 * `GET /v1/auth/whoami`: who the presented key is (id, name, scopes), for
 * clients such as the dashboard that show views by scope. Any valid key may
 * ask; a missing, unknown, revoked or expired key gets 401.
 */
import { Hono } from "hono";
import { apiKeyFromHeaders, identify } from "../auth/api-keys.ts";
import { ForbiddenError } from "../errors.ts";
import type { AppEnv } from "./app-env.ts";
import type { AuthDeps } from "./require-scope.ts";

export function authRoutes(deps: { auth: AuthDeps }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/whoami", async (c) => {
    const { auth } = deps;
    // One lookup whatever the scopes (authenticating once per scope would read the key three times).
    const principal = await identify(auth.store, apiKeyFromHeaders(c.req.raw.headers), auth);
    if (principal.scopes.length === 0) throw new ForbiddenError("API key has no scope");
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
