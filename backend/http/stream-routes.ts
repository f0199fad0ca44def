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
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import type { FieldError } from "../../shared/event-schema.ts";
import { ValidationError } from "../errors.ts";
import {
  type Channel,
  CHANNELS,
  type LiveFilter,
  type LiveHub,
  type OutMessage,
} from "../realtime/live-hub.ts";
import { SharedFrames } from "../realtime/shared-frames.ts";
import type { AppEnv } from "./app-env.ts";
import { type AuthDeps, requireScope } from "./require-scope.ts";
import { metadataFilters } from "./query-params.ts";

/** What a runtime provides for WebSockets (Deno: hono/deno; Node: @hono/node-server with `ws`). */
export interface RealtimeAdapter {
  upgradeWebSocket: UpgradeWebSocket<unknown>;
  /** Starts protocol-level ping/pong on a socket; the returned function stops it. */
  keepAlive?(ws: WSContext<unknown>, intervalMs: number): () => void;
  /**
   * Sends UTF-8 bytes as one text frame, where the runtime's socket can (Node's `ws`): a batch is
   * then encoded once for every subscriber instead of once per socket. Absent: text is sent.
   */
  sendUtf8Text?(ws: WSContext<unknown>, bytes: Uint8Array): void;
}

export interface StreamRoutesDeps {
  auth: AuthDeps;
  hub: LiveHub;
  realtime: RealtimeAdapter | null;
  heartbeatMs: number;
  maxNameLength: number;
  /** Bytes buffered on a WebSocket before the writer waits (then the hub's queue fills and lags). */
  wsBufferLimit: number;
}

const MAX_FILTER_VALUES = 100;

export function streamRoutes(deps: StreamRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // Subscribers handed the same batch write the same text, rendered once (shared-frames.ts).
  const sseFrames = new SharedFrames((messages) => messages.map(sseFrame).join(""));
  const sendUtf8 = deps.realtime?.sendUtf8Text?.bind(deps.realtime);
  const utf8 = new TextEncoder();
  const wsFrames = new SharedFrames<string | Uint8Array>((messages) =>
    sendUtf8 ? utf8.encode(wsBatchFrame(messages)) : wsBatchFrame(messages)
  );
  app.use("*", requireScope("read", deps.auth, { queryKey: true }));

  app.get("/sse", (c) => {
    const { filter, since } = parseSubscription(c, deps.maxNameLength, c.req.header("last-event-id"));
    const keyId = c.get("principal").keyId;
    // Subscribe before the response starts, so that caps answer 429 rather than an empty stream;
    // messages wait for the stream to open.
    let open: (stream: SSEStreamingApi) => void = () => {};
    const opened = new Promise<SSEStreamingApi>((resolve) => (open = resolve));
    let finish = () => {};
    const ended = new Promise<void>((resolve) => (finish = resolve));
    const unsubscribe = deps.hub.subscribe(keyId, filter, {
      send: async (messages) => {
        const stream = await opened;
        await stream.write(sseFrames.frame(messages));
      },
      close: (reason) => {
        void opened.then((stream) => stream.writeSSE({ event: "close", data: JSON.stringify({ reason }) }))
          .finally(finish);
      },
    }, since);
    return streamSSE(c, async (stream) => {
      stream.onAbort(finish);
      const heartbeat = setInterval(() => {
        stream.write(": ping\n\n").catch(finish);
      }, deps.heartbeatMs);
      try {
        await stream.write(": connected\n\n");
        open(stream);
        await ended;
      } finally {
        clearInterval(heartbeat);
        unsubscribe();
      }
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
    let unsubscribe = () => {};
    let stopKeepAlive = () => {};
    const handler = realtime.upgradeWebSocket(() => ({
      onOpen(_event, ws) {
        try {
          unsubscribe = hub.subscribe(keyId, filter, {
            send: async (messages) => {
              await waitForBuffer(ws, deps.wsBufferLimit);
              const frame = wsFrames.frame(messages);
              if (typeof frame === "string") ws.send(frame);
              else sendUtf8!(ws, frame);
            },
            close: (reason) => ws.close(4008, reason),
          }, since);
        } catch (error) {
          ws.close(4029, error instanceof Error ? error.message : "subscription refused");
          return;
        }
        stopKeepAlive = realtime.keepAlive?.(ws, deps.heartbeatMs) ?? (() => {});
      },
      onClose() {
        stopKeepAlive();
        unsubscribe();
      },
      onError() {
        stopKeepAlive();
        unsubscribe();
      },
    }));
    return await handler(c, next);
  });

  return app;
}

/** An SSE frame: `data` is single-line JSON, so one `data:` line suffices. */
function sseFrame(m: OutMessage): string {
  return `id: ${m.seq}\nevent: ${m.type}\ndata: ${m.data}\n\n`;
}

function wsFrame(m: OutMessage): string {
  return `{"seq":${m.seq},"type":"${m.type}","data":${m.data}}`;
}

/** One WebSocket frame per write: a single message as an object, several as an array. */
function wsBatchFrame(messages: readonly OutMessage[]): string {
  return messages.length === 1 ? wsFrame(messages[0]) : `[${messages.map(wsFrame).join(",")}]`;
}

/** Waits (bounded) while the socket has more than `limit` bytes queued. */
async function waitForBuffer(ws: WSContext<unknown>, limit: number): Promise<void> {
  const raw = ws.raw as { bufferedAmount?: number } | undefined;
  for (let i = 0; i < 500 && (raw?.bufferedAmount ?? 0) > limit; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  if ((raw?.bufferedAmount ?? 0) > limit) throw new Error("peer is not reading");
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
