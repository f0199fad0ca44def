/**
 * Fixtures of the live fan-out's tests: stored events to publish, and SSE
 * frames parsed from a stream's text as it arrives.
 */
import type { StoredEvent } from "../../shared/event.ts";

/** 2026-11-22T12:00:00Z: the time of every fixture event. */
export const LIVE_T = Date.parse("2026-11-22T12:00:00.000Z");

/** A committed event with seq `seq` (value = seq), as the hub is handed it. */
export function storedEvent(
  seq: number,
  deviceId = "a",
  metadata: StoredEvent["metadata"] = null,
): StoredEvent {
  return {
    id: `e${seq}`,
    deviceId,
    eventType: "t",
    value: seq,
    timestamp: LIVE_T,
    receivedAt: LIVE_T,
    partition: 0,
    metadata,
    data: null,
    seq,
  };
}

/** One SSE frame: `id`, `event` and the parsed JSON of `data`. */
export interface SseFrame {
  id?: string;
  event?: string;
  data?: unknown;
}

/**
 * Takes the complete frames (ended by a blank line) off the front of `buffer`: the frames that
 * name an event (comments such as `: ping` are dropped) and the incomplete rest.
 */
export function takeSseFrames(buffer: string): { frames: SseFrame[]; rest: string } {
  const frames: SseFrame[] = [];
  let cut: number;
  while ((cut = buffer.indexOf("\n\n")) >= 0) {
    const block = buffer.slice(0, cut);
    buffer = buffer.slice(cut + 2);
    const frame: SseFrame = {};
    for (const line of block.split("\n")) {
      if (line.startsWith("id: ")) frame.id = line.slice(4);
      else if (line.startsWith("event: ")) frame.event = line.slice(7);
      else if (line.startsWith("data: ")) frame.data = JSON.parse(line.slice(6));
    }
    if (frame.event) frames.push(frame);
  }
  return { frames, rest: buffer };
}
