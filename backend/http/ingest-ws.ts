/**
 * WebSocket ingestion: `GET /v1/ingest` upgraded to a WebSocket (ingest scope;
 * key by header, or `?apiKey=` for browsers). Each text frame is one ingest
 * request with the same validation, limits, dedup, Idempotency-Key rules and
 * rate limits as `POST /v1/events`:
 *
 * - an envelope `{"seq": 7, "events": [...], "idempotencyKey": "..."}` (seq:
 *   the client's frame number, echoed in the answer; both optional), or
 * - a bare event object, a JSON array of events, or NDJSON lines.
 *
 * The answer to a frame is `{"type":"ack","seq":7,"status":202,"body":{…}}`
 * (the body `POST /v1/events` would have returned) sent only after the events
 * are durable, or `{"type":"error","seq":7,"status":4xx|5xx,"message":…,
 * "errors":[…],"retryAfter"?}`. Frames are processed concurrently up to
 * `maxInFlight` per connection; a frame beyond that window is refused at once
 * with status 503 (never buffered), so a client that does not wait for acks
 * gets backpressure instead of unbounded memory.
 *
 * Bounds (`ingest-ws-sockets.ts`): sockets per key (429 at the upgrade) and in
 * total (503); a frame over `MAX_BODY_BYTES` closes the socket with 1009 (on
 * Node the `ws` server does it from the frame header, before buffering the
 * payload; on Deno the runtime hands over the whole message first, so this is
 * checked on arrival); a revoked or expired key's sockets close with 4401.
 */
import { Hono } from "hono";
import type { WSContext } from "hono/ws";
import { AppError, PayloadTooLargeError, RateLimitedError, ValidationError } from "../errors.ts";
import { IdempotencyGuard } from "../ingest/idempotency.ts";
import type { AppEnv } from "./app-env.ts";
import { type EventsPayload, parseJson, parseNdjson } from "./body.ts";
import { chargeRate, type EventsRoutesDeps, ingestPayload } from "./events-routes.ts";
import { requireScope } from "./require-scope.ts";
import type { RealtimeAdapter } from "./stream-routes.ts";
import type { Principal } from "../auth/api-keys.ts";
import type { Logger } from "../logger.ts";
import { CLOSE_TOO_BIG, type IngestSockets } from "./ingest-ws-sockets.ts";

export interface IngestWsDeps {
  events: EventsRoutesDeps;
  realtime: RealtimeAdapter | null;
  /** Frames processed at once per connection. */
  maxInFlight: number;
  heartbeatMs: number;
  /** The per-key and total caps on open ingest sockets, and the revoked-key sweep. */
  sockets: IngestSockets;
  logger: Logger;
}

/** How long a reserved socket slot waits for its handshake to complete, ms. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

interface Frame {
  seq: number | null;
  payload: EventsPayload;
  idemKey: string | null;
}

export function ingestWsRoutes(deps: IngestWsDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(
    "/",
    requireScope("ingest", deps.events.auth, { queryKey: true, cachedKey: true }),
    async (c, next) => {
      const realtime = deps.realtime;
      if (!realtime) {
        throw new ValidationError("WebSocket is not available on this runtime; use POST /v1/events");
      }
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
        throw new ValidationError("Expected a WebSocket upgrade (or use POST /v1/events)", [{
          field: "upgrade",
          message: "send Upgrade: websocket",
        }]);
      }
      const principal = c.get("principal");
      const outcomes = deps.events.ingest.outcomes;
      const maxBytes = deps.events.requestLimits.maxBodyBytes;
      const slot = deps.sockets.reserve(principal.keyId);
      let inFlight = 0;
      let tooBigLogged = false;
      let stopKeepAlive = () => {};
      // A handshake that never completes (the client left mid-upgrade) must not keep the slot;
      // Node's helper answers before the handshake, so its response cannot tell.
      const handshake = setTimeout(() => deps.sockets.release(slot), HANDSHAKE_TIMEOUT_MS);
      const closed = () => {
        clearTimeout(handshake);
        stopKeepAlive();
        deps.sockets.release(slot);
      };
      const handler = realtime.upgradeWebSocket(() => ({
        onOpen(_event, ws) {
          clearTimeout(handshake);
          slot.close = (code, reason) => ws.close(code, reason);
          stopKeepAlive = realtime.keepAlive?.(ws, deps.heartbeatMs) ?? (() => {});
        },
        onMessage(event, ws) {
          const text = typeof event.data === "string" ? event.data : null;
          const size = text?.length ?? frameBytes(event.data);
          if (size > maxBytes) {
            tooBigLogged = true;
            deps.logger.warn("websocket ingest closed", {
              keyId: principal.keyId,
              reason: "frame too large",
              frameBytes: size,
              limit: maxBytes,
            });
            ws.close(CLOSE_TOO_BIG, `Frame larger than ${maxBytes} bytes (MAX_BODY_BYTES)`);
            closed();
            return;
          }
          let frame: Frame;
          try {
            if (text === null) {
              throw new ValidationError("Frames must be text (JSON or NDJSON)", [{
                field: "frame",
                message: "binary frame",
              }]);
            }
            frame = parseFrame(text);
          } catch (error) {
            reply(ws, errorFrame(peekSeq(text), error));
            return;
          }
          const events = frame.payload.items.length;
          const maxEvents = deps.events.requestLimits.maxEventsPerRequest;
          if (events > maxEvents) {
            outcomes?.rejected("too_large").inc(events);
            const error = new PayloadTooLargeError(`A frame may carry at most ${maxEvents} events`, "events");
            reply(ws, errorFrame(frame.seq, error));
            return;
          }
          if (inFlight >= deps.maxInFlight) {
            // Refused before any work: counted like a full commit queue (503, retry later).
            outcomes?.overloaded.inc(events);
            reply(ws, {
              type: "error",
              seq: frame.seq,
              status: 503,
              message:
                `Too many frames in flight (at most ${deps.maxInFlight}); wait for acks before sending more`,
              errors: [{ field: "frame", message: "in-flight window full" }],
            });
            return;
          }
          inFlight++;
          void handle(deps.events, principal, frame).then((answer) => reply(ws, answer)).finally(() =>
            inFlight--
          );
        },
        onClose(event) {
          if (event.code === CLOSE_TOO_BIG && !tooBigLogged) {
            // Node's `ws` refused the frame from its header; the message never reached us.
            deps.logger.warn("websocket ingest closed", {
              keyId: principal.keyId,
              reason: "frame too large",
              limit: maxBytes,
            });
          }
          closed();
        },
        onError(event) {
          // E.g. Node's `ws` refusing a frame over its maxPayload ("Max payload size exceeded").
          const error = (event as ErrorEvent).error;
          deps.logger.warn("websocket ingest closed", {
            keyId: principal.keyId,
            reason: "error",
            error: error instanceof Error ? error.message : String(error ?? "unknown"),
          });
          closed();
        },
      }));
      try {
        return await handler(c, next);
      } catch (error) {
        closed();
        throw error;
      }
    },
  );
  return app;
}

async function handle(
  deps: EventsRoutesDeps,
  principal: Principal,
  frame: Frame,
): Promise<Record<string, unknown>> {
  try {
    chargeRate(deps, principal, frame.payload.items.length);
    const outcome = await ingestPayload(deps, principal.keyId, frame.payload, frame.idemKey);
    return {
      type: "ack",
      seq: frame.seq,
      status: outcome.status,
      ...(outcome.replayed ? { replayed: true } : {}),
      body: JSON.parse(outcome.body),
    };
  } catch (error) {
    return errorFrame(frame.seq, error);
  }
}

/** Size of a binary frame's payload (refused anyway; measured for the frame limit). */
function frameBytes(data: unknown): number {
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  if (data instanceof Blob) return data.size;
  return 0;
}

function parseFrame(text: string): Frame {
  const trimmed = text.trimStart();
  let frame: Frame;
  if (trimmed.startsWith("{") && !trimmed.includes("\n{")) {
    const value = parseJson(text);
    const envelope = value.kind === "single" ? value.items[0] as Record<string, unknown> : null;
    if (envelope && "events" in envelope) {
      frame = envelopeFrame(envelope);
    } else {
      frame = { seq: null, payload: value, idemKey: null };
    }
  } else if (trimmed.startsWith("[")) {
    frame = { seq: null, payload: parseJson(text), idemKey: null };
  } else {
    frame = { seq: null, payload: parseNdjson(text), idemKey: null };
  }
  return frame;
}

function envelopeFrame(envelope: Record<string, unknown>): Frame {
  const { seq, events, idempotencyKey, ...rest } = envelope;
  const errors = [];
  if (seq !== undefined && (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0)) {
    errors.push({ field: "seq", message: "seq must be a non-negative integer" });
  }
  if (!Array.isArray(events) || events.length === 0) {
    errors.push({ field: "events", message: "events must be a non-empty array" });
  }
  if (idempotencyKey !== undefined && typeof idempotencyKey !== "string") {
    errors.push({ field: "idempotencyKey", message: "idempotencyKey must be a string" });
  }
  for (const key of Object.keys(rest)) errors.push({ field: key, message: "unknown envelope field" });
  const idemKey = typeof idempotencyKey === "string" ? IdempotencyGuard.parseHeader(idempotencyKey) : null;
  if (errors.length) {
    throw Object.assign(new ValidationError("Invalid frame", errors), {
      frameSeq: typeof seq === "number" ? seq : null,
    });
  }
  return {
    seq: (seq as number | undefined) ?? null,
    payload: { kind: "batch", items: events as unknown[] },
    idemKey,
  };
}

/** The client's seq of a frame that could not be parsed, when it can still be read. */
function peekSeq(text: string | null): number | null {
  const m = text ? /^\s*\{\s*"seq"\s*:\s*(\d{1,15})/.exec(text) : null;
  return m ? Number(m[1]) : null;
}

function errorFrame(seq: number | null, error: unknown): Record<string, unknown> {
  if (error instanceof AppError) {
    const body = (error as ValidationError).body;
    return {
      type: "error",
      seq: (error as { frameSeq?: number | null }).frameSeq ?? seq,
      status: error.status,
      message: error.message,
      errors: error.errors,
      ...(error instanceof RateLimitedError ? { retryAfter: error.retryAfterSeconds } : {}),
      ...(body ? { body } : {}),
    };
  }
  return { type: "error", seq, status: 500, message: "Internal error" };
}

function reply(ws: WSContext<unknown>, message: Record<string, unknown>): void {
  if (ws.readyState === 1) ws.send(JSON.stringify(message));
}
