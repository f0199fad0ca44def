/**
 * Live subscriptions: `GET /v1/stream/sse` (Server-Sent Events, for platforms
 * without inbound WebSockets) and `GET /v1/stream` (WebSocket, PulseStream's
 * path). Both need the `read` scope; the key may also come as `?apiKey=`
 * because EventSource and browser WebSockets cannot send headers.
 *
 * Query: `channels=events,aggregates,stats,alerts` (default `events`),
 * `deviceId` and `eventType` (repeatable), `metadata.<key>=<value>`, and
 * `since=<seq>` to resume (SSE also honours `Last-Event-ID`).
 *
 * SSE frames: `id: <seq>`, `event: <type>`, `data: <json>`; a `: ping`
 * comment every heartbeat interval keeps proxies from closing the stream and
 * detects a dead peer (the write fails). WebSocket frames are JSON text:
 * `{"seq":…,"type":…,"data":{…}}`, or an array of such messages when several
 * were ready at once (a commit of many events is one frame); dead peers are
 * dropped by ping/pong (`RealtimeAdapter.keepAlive`).
 */
import { type Context, Hono } from "hono";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import type { FieldError } from "../../shared/event-schema.ts";
import { ValidationError } from "../errors.ts";
import {
  type Channel,
  CHANNELS,
  type LiveFilter,
  type LiveHub,
  type LiveSubscription,
} from "../realtime/live-hub.ts";
import { SharedFrames, sseBatchBytes, wsBatchBytes, wsBatchText } from "../realtime/shared-frames.ts";
import type { AppEnv } from "./app-env.ts";
import { type AuthDeps, requireScope } from "./require-scope.ts";
import { metadataFilters } from "./query-params.ts";
import { SseBody } from "./sse-body.ts";
import { wsSink } from "./ws-sink.ts";

/** What a runtime provides for WebSockets (Deno: hono/deno; Node: @hono/node-server with `ws`). */
export interface RealtimeAdapter {
  upgradeWebSocket: UpgradeWebSocket<unknown>;
  /**
   * Starts protocol-level ping/pong on a socket; the returned function stops it. `onDead` runs
   * when the peer missed a pong, just before the connection is dropped.
   */
  keepAlive?(ws: WSContext<unknown>, intervalMs: number, onDead?: () => void): () => void;
  /**
   * Sends UTF-8 bytes as one text frame, where the runtime's socket can (Node's `ws`): a batch is
   * then encoded once for every subscriber instead of once per socket. Absent: text is sent.
   */
  sendUtf8Text?(ws: WSContext<unknown>, bytes: Uint8Array): void;
  /** Drops a socket's connection at once, without a close handshake, where the runtime can (Node). */
  terminate?(ws: WSContext<unknown>): void;
  /**
   * Whether a streamed response that ends normally leaves its connection open whatever
   * `Connection: close` says (Deno): SSE streams then end by failing their body (sse-body.ts).
   */
  keepsEndedStreamsOpen?: boolean;
}

export interface StreamRoutesDeps {
  auth: AuthDeps;
  hub: LiveHub;
  realtime: RealtimeAdapter | null;
  heartbeatMs: number;
  maxNameLength: number;
  /** How long a closed subscriber may take to receive its close message before it is dropped, ms. */
  closeGraceMs: number;
}

const MAX_FILTER_VALUES = 100;
const ascii = new TextEncoder();
const CONNECTED = ascii.encode(": connected\n\n");

export function streamRoutes(deps: StreamRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // Subscribers handed the same batch write the same bytes, rendered once (shared-frames.ts).
  const sseFrames = new SharedFrames(sseBatchBytes);
  const sendUtf8 = deps.realtime?.sendUtf8Text?.bind(deps.realtime);
  const wsFrames = new SharedFrames<string | Uint8Array>(sendUtf8 ? wsBatchBytes : wsBatchText);
  app.use("*", requireScope("read", deps.auth, { queryKey: true }));

  app.get("/sse", (c) => {
    const { filter, since } = parseSubscription(c, deps.maxNameLength, c.req.header("last-event-id"));
    const keyId = c.get("principal").keyId;
    let release = () => {};
    const body = new SseBody(() => release(), {
      failToEnd: deps.realtime?.keepsEndedStreamsOpen ?? false,
      heartbeatMs: deps.heartbeatMs,
    });
    // Subscribe before the response starts, so that caps answer 429 rather than an empty stream.
    try {
      release = deps.hub.subscribe(keyId, filter, {
        send: (messages) => body.send(sseFrames.frame(messages)),
        close: (reason) => {
          const frame = `event: close\ndata: ${JSON.stringify({ reason })}\n\n`;
          body.end(ascii.encode(frame), deps.closeGraceMs, reason);
        },
      }, since).ended;
    } catch (error) {
      body.end(null, 0, "subscription refused"); // stops its heartbeat
      throw error;
    }
    void body.send(CONNECTED);
    return c.body(body.stream, 200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
      // When the stream ends, so does the connection (EventSource reconnects on a new one).
      connection: "close",
    });
  });

  app.get("/", async (c, next) => {
    if (!deps.realtime) {
      throw new ValidationError("WebSocket is not available on this runtime; use /v1/stream/sse");
    }
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new ValidationError("Expected a WebSocket upgrade (or use /v1/stream/sse)", [{
        field: "upgrade",
        message: "send Upgrade: websocket",
      }]);
    }
    const { filter, since } = parseSubscription(c, deps.maxNameLength, undefined);
    const keyId = c.get("principal").keyId;
    const { realtime, hub } = deps;
    hub.assertCapacity(keyId); // a 429 before the upgrade; onOpen checks again
    let release = () => {};
    let stopKeepAlive = () => {};
    const end = () => {
      stopKeepAlive();
      release();
    };
    const handler = realtime.upgradeWebSocket(() => ({
      onOpen(_event, ws) {
        let subscription: LiveSubscription;
        try {
          subscription = hub.subscribe(
            keyId,
            filter,
            wsSink(ws, {
              frame: (messages) => wsFrames.frame(messages),
              sendUtf8,
              terminate: realtime.terminate?.bind(realtime),
              graceMs: deps.closeGraceMs,
            }),
            since,
          );
        } catch (error) {
          ws.close(4029, error instanceof Error ? error.message : "subscription refused");
          return;
        }
        release = subscription.ended;
        stopKeepAlive = realtime.keepAlive?.(ws, deps.heartbeatMs, () =>
          subscription.close("peer not answering pings")) ??
          (() => {});
      },
      // The slot is freed only here: when the runtime reports the socket closed.
      onClose: end,
      onError: end,
    }));
    return await handler(c, next);
  });

  return app;
}

function parseSubscription(
  c: Context,
  maxNameLength: number,
  lastEventId: string | undefined,
): { filter: LiveFilter; since: number | null } {
  const errors: FieldError[] = [];
  const list = (field: string) => {
    const values = c.req.queries(field) ?? [];
    if (values.length > MAX_FILTER_VALUES) {
      errors.push({ field, message: `at most ${MAX_FILTER_VALUES} values` });
    }
    for (const v of values) {
      if (v === "" || v.length > maxNameLength) {
        errors.push({ field, message: `${field} must be 1-${maxNameLength} characters` });
      }
    }
    return values.length ? new Set(values) : null;
  };
  const rawChannels = (c.req.query("channels") ?? "events").split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = rawChannels.filter((ch) => !(CHANNELS as readonly string[]).includes(ch));
  if (unknown.length || rawChannels.length === 0) {
    errors.push({ field: "channels", message: `channels must be a list of ${CHANNELS.join(", ")}` });
  }
  const metadata = metadataFilters(c.req.queries(), MAX_FILTER_VALUES, errors);
  const rawSince = c.req.query("since") ?? lastEventId;
  let since: number | null = null;
  if (rawSince !== undefined) {
    if (!/^\d{1,15}$/.test(rawSince)) {
      errors.push({
        field: "since",
        message: "since (or Last-Event-ID) must be a seq: a non-negative integer",
      });
    } else since = Number(rawSince);
  }
  const filter: LiveFilter = {
    channels: new Set(rawChannels as Channel[]),
    deviceIds: list("deviceId"),
    eventTypes: list("eventType"),
    metadata,
  };
  if (errors.length) throw new ValidationError("Invalid subscription", errors);
  return { filter, since };
}
