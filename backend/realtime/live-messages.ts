/**
 * The messages of the live fan-out: what a subscriber asks for (`LiveFilter`),
 * what it is handed (`OutMessage`), and how published things become messages.
 *
 * A message is built once per publication and shared by every subscriber it
 * goes to; its JSON body is encoded to UTF-8 once, when it is built, so that
 * transports copy bytes into their frames instead of encoding text per
 * subscriber (shared-frames.ts), and the hub can bound what a subscriber
 * holds in bytes.
 */
import { type StoredEvent, toEventView } from "../../shared/event.ts";
import type { WindowMessage } from "../stream/engine.ts";

export const CHANNELS = ["events", "aggregates", "stats", "alerts"] as const;
export type Channel = typeof CHANNELS[number];

export interface LiveFilter {
  channels: ReadonlySet<Channel>;
  deviceIds: ReadonlySet<string> | null;
  eventTypes: ReadonlySet<string> | null;
  /** Tag equality: the event's tag rendered as text must equal the value. */
  metadata: readonly [string, string][];
}

export type MessageType = "event" | "window" | "correction" | "stats" | "alert" | "lagged";

/** One message as delivered: `type` names it (SSE `event:`), `seq` orders it (SSE `id:`). */
export interface OutMessage {
  readonly seq: number;
  readonly type: MessageType;
  /** The JSON text of the message body. */
  readonly data: string;
  /** `data` as UTF-8, encoded once for every subscriber and transport. */
  readonly body: Uint8Array;
}

/** Bytes a message is counted for in a subscriber's buffer: its body plus the largest frame envelope. */
export function messageBytes(m: OutMessage): number {
  return m.body.length + FRAME_OVERHEAD;
}

/** Upper bound of an SSE or WebSocket envelope around a body (`id: …\nevent: correction\ndata: …\n\n`). */
const FRAME_OVERHEAD = 64;
const utf8 = new TextEncoder();

export function outMessage(seq: number, type: MessageType, data: string): OutMessage {
  return { seq, type, data, body: utf8.encode(data) };
}

export function eventMessage(e: StoredEvent): OutMessage {
  return outMessage(e.seq, "event", JSON.stringify({ ...toEventView(e), seq: e.seq }));
}

export function windowMessage(seq: number, m: WindowMessage): OutMessage {
  return outMessage(seq, m.kind, JSON.stringify({ ...m, startTime: new Date(m.start).toISOString() }));
}

export function lagMessage(fromSeq: number, toSeq: number, missed: number, seq: number): OutMessage {
  return outMessage(
    seq,
    "lagged",
    JSON.stringify({
      type: "lagged",
      missed,
      skippedFromSeq: fromSeq,
      resumeAfterSeq: toSeq,
      message: "subscriber fell behind; messages were skipped (reconnect with since= to replay events)",
    }),
  );
}

export function matchesEvent(f: LiveFilter, e: StoredEvent): boolean {
  if (f.deviceIds && !f.deviceIds.has(e.deviceId)) return false;
  if (f.eventTypes && !f.eventTypes.has(e.eventType)) return false;
  for (const [k, v] of f.metadata) {
    const tag = e.metadata?.[k];
    if (tag === undefined || String(tag) !== v) return false;
  }
  return true;
}

export function matchesWindow(f: LiveFilter, m: WindowMessage): boolean {
  if (f.eventTypes && !f.eventTypes.has(m.eventType)) return false;
  if (f.deviceIds) return m.deviceId !== null && f.deviceIds.has(m.deviceId);
  return true;
}
