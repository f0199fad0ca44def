/**
 * The one place where errors become responses: PulseStream's envelope
 * `{"status":"error","message","errors":[{"field","message"}]}` with the
 * status of the domain error. Unknown errors are logged with their stack and
 * answered with a bare 500: no stack, driver message or SQL ever leaves.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import {
  AppError,
  PayloadTooLargeError,
  RateLimitedError,
  StoreUnavailableError,
  ValidationError,
} from "../errors.ts";
import type { Logger } from "../logger.ts";

export function errorResponse(error: unknown, c: Context, logger: Logger): Response {
  if (error instanceof AppError) {
    const headers: Record<string, string> = {};
    // Every error that says when to come back (overload, store down, a bound that frees up) says so.
    const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof retryAfter === "number") headers["Retry-After"] = String(retryAfter);
    if (error instanceof PayloadTooLargeError) Object.assign(headers, error.headers);
    if (error instanceof RateLimitedError) {
      Object.assign(headers, error.headers, { "Retry-After": String(error.retryAfterSeconds) });
    }
    if (error instanceof StoreUnavailableError) {
      logger.error("store unavailable", {
        requestId: c.get("requestId"),
        traceId: c.get("traceId"),
        operation: error.operation,
        cause: describe(error.cause),
      });
    }
    const extra = error instanceof ValidationError && error.body ? error.body : {};
    return c.json(
      { status: "error", message: error.message, errors: error.errors, ...extra },
      error.status as 400,
      headers,
    );
  }
  if (error instanceof HTTPException) {
    return c.json({ status: "error", message: error.message || "Request failed", errors: [] }, error.status);
  }
  logger.error("unhandled error", {
    requestId: c.get("requestId"),
    traceId: c.get("traceId"),
    error: describe(error),
  });
  return c.json({ status: "error", message: "Internal server error", errors: [] }, 500);
}

function describe(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    return {
      name: error.name,
      message: error.message,
      stack: error.stack,
      cause: error.cause ? describe(error.cause) : undefined,
    };
  }
  return { value: String(error) };
}
