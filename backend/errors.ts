/**
 * Domain errors. Services throw these; `http/error-handler.ts` maps them to a
 * status code and PulseStream's error envelope in one place. Anything else that
 * escapes is an internal error: logged with its stack, answered with a bare 500.
 */
import type { FieldError } from "../shared/event-schema.ts";

/** Base class: an error whose message is safe to show to the client. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: FieldError[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** 400: the request or an event in it is invalid. */
export class ValidationError extends AppError {
  constructor(message: string, errors: FieldError[] = [], readonly body?: Record<string, unknown>) {
    super(400, message, errors);
  }
}

/** 401: no key, an unknown key, or a revoked/expired key. */
export class UnauthorizedError extends AppError {
  constructor(message: string) {
    super(401, message);
  }
}

/** 403: a valid key without the scope the route needs. */
export class ForbiddenError extends AppError {
  constructor(message: string) {
    super(403, message);
  }
}

/** 404: no such resource. */
export class NotFoundError extends AppError {
  constructor(message: string) {
    super(404, message);
  }
}

/** 409: a request with the same Idempotency-Key is still in flight. */
export class ConflictError extends AppError {
  constructor(message: string, field?: string) {
    super(409, message, field ? [{ field, message }] : []);
  }
}

/** 422: the Idempotency-Key was already used with a different payload. */
export class UnprocessableError extends AppError {
  constructor(message: string, field?: string) {
    super(422, message, field ? [{ field, message }] : []);
  }
}

/** 408: the client did not send its request body in time. */
export class RequestTimeoutError extends AppError {
  constructor(ms: number) {
    super(408, `Request body not received within ${ms} ms`);
  }
}

/** 413: a size or count limit was exceeded; `headers` go out with it (the RateLimit-* of an over-burst request). */
export class PayloadTooLargeError extends AppError {
  constructor(message: string, field = "body", readonly headers: Record<string, string> = {}) {
    super(413, message, [{ field, message }]);
  }
}

/** 415: an unsupported Content-Type or Content-Encoding. */
export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string, field = "content-type") {
    super(415, message, [{ field, message }]);
  }
}

/** 429 with Retry-After and RateLimit-* headers: the key's event rate is exhausted. */
export class RateLimitedError extends AppError {
  constructor(message: string, readonly retryAfterSeconds: number, readonly headers: Record<string, string>) {
    super(429, message);
  }
}

/** 503 with Retry-After: the commit queue is full; the client should retry later. */
export class OverloadedError extends AppError {
  constructor(readonly retryAfterSeconds = 1) {
    super(503, "Server is overloaded; retry later");
  }
}

/**
 * 503 with Retry-After: the store failed or is unreachable. Store adapters wrap
 * every driver error in this class once, keeping the driver error as `cause`
 * (for logs only; it never reaches a response).
 */
export class StoreUnavailableError extends AppError {
  constructor(readonly operation: string, options?: ErrorOptions, readonly retryAfterSeconds = 1) {
    super(503, "Storage is unavailable; retry later", [], options);
  }
}
