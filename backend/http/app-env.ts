import type { Principal } from "../auth/api-keys.ts";

/** Per-request values set by middleware. */
export interface AppEnv {
  Variables: {
    requestId: string;
    principal: Principal;
    /** The W3C trace id of a valid `traceparent` header, when the request had one. */
    traceId?: string;
  };
}
