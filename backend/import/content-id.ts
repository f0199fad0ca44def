/**
 * Deterministic ids for imported events that have none, so that importing the
 * same file twice stores nothing twice: `imp-` + the first 32 hex digits of
 * SHA-256 over the canonical JSON (object keys sorted) of the event's content
 * (device, type, value, event time, metadata, payload). Two events identical
 * in all of these are therefore one event.
 */
import type { ValidEvent } from "../../shared/event.ts";
import { canonicalJson } from "../ingest/idempotency.ts";

const encoder = new TextEncoder();

/** The content id of each event, in order (hashed concurrently through WebCrypto). */
export function contentIds(events: readonly ValidEvent[]): Promise<string[]> {
  return Promise.all(events.map(contentId));
}

async function contentId(e: ValidEvent): Promise<string> {
  const canonical = canonicalJson([
    e.deviceId,
    e.eventType,
    e.value ?? null,
    e.timestamp ?? null,
    e.metadata ?? null,
    e.data ?? null,
  ]);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(canonical)));
  let hex = "";
  for (let i = 0; i < 16; i++) hex += digest[i].toString(16).padStart(2, "0");
  return `imp-${hex}`;
}
