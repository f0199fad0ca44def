/**
 * The canonical PulseStream event, shared by the server and the dashboard.
 *
 * Wire format (what a client sends): `id` optional, `deviceId` and `eventType`
 * required, `value` optional finite number, `timestamp` epoch ms or ISO-8601
 * (default: receive time), `metadata` a flat map of tags, `data` an optional
 * JSON object payload.
 */

/** Tag values allowed in `metadata`. */
export type MetadataValue = string | number | boolean;

/** A JSON value as carried in `data`. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** An event after validation, before enrichment. `timestamp` is epoch ms if given. */
export interface ValidEvent {
  id?: string;
  deviceId: string;
  eventType: string;
  value?: number;
  timestamp?: number;
  metadata?: Record<string, MetadataValue>;
  data?: { [key: string]: JsonValue };
}

/** An event ready to be committed: id, event time, receive time and partition are set. */
export interface EnrichedEvent {
  id: string;
  deviceId: string;
  eventType: string;
  value: number | null;
  /** Event time, epoch ms. */
  timestamp: number;
  /** Server receive time, epoch ms. */
  receivedAt: number;
  /** Partition number, from a stable hash of `deviceId`. */
  partition: number;
  metadata: Record<string, MetadataValue> | null;
  data: { [key: string]: JsonValue } | null;
}

/** An event as read back from the store: enriched fields plus its commit sequence. */
export interface StoredEvent extends EnrichedEvent {
  /** Commit sequence number: strictly increasing in commit order. */
  seq: number;
}

/** The JSON shape of an event in API responses (times as ISO-8601). */
export interface EventView {
  id: string;
  deviceId: string;
  eventType: string;
  value: number | null;
  timestamp: string;
  receivedAt: string;
  partition: number;
  metadata: Record<string, MetadataValue> | null;
  data: { [key: string]: JsonValue } | null;
}

/** Render a stored event for an API response. */
export function toEventView(event: EnrichedEvent): EventView {
  return {
    id: event.id,
    deviceId: event.deviceId,
    eventType: event.eventType,
    value: event.value,
    timestamp: new Date(event.timestamp).toISOString(),
    receivedAt: new Date(event.receivedAt).toISOString(),
    partition: event.partition,
    metadata: event.metadata,
    data: event.data,
  };
}
