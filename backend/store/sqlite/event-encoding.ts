/**
 * How a raw event is laid out in a day partition's row (migration 14,
 * docs/STORAGE.md "Compact rows"), and back. Every field round-trips exactly:
 * - `id`: a canonical lowercase UUID as its 16 bytes (a BLOB, converted by
 *   SQLite's `unhex` on the writer), any other id as text. No other id is ever
 *   stored as a 16-byte BLOB, so two ids are equal exactly when their stored
 *   values are, and dedup stays exact;
 * - `deviceId`, `eventType`, `metadata`: a dictionary code or the text itself
 *   (event-dictionary.ts);
 * - `timestamp`: ms since the partition's UTC day start (`ms`, 4 bytes
 *   instead of 6); `receivedAt`: its lag behind the timestamp (`lag`);
 * - `data`: JSON text, or from `COMPRESS_PAYLOAD_CHARS` on its deflate-raw
 *   bytes (a BLOB) when they are smaller.
 */
import type { EnrichedEvent, StoredEvent } from "../../../shared/event.ts";
import { StoreUnavailableError } from "../../errors.ts";
import type { CommittedEventPoint } from "../store.ts";
import type { EventDictionary } from "./event-dictionary.ts";
import type { SqlValue } from "./sql-driver.ts";

/** A sync compressor for payloads (deflate-raw), e.g. `node:zlib` (adapters/sqlite/zlib-payload-codec.ts). */
export interface PayloadCodec {
  deflate(bytes: Uint8Array): Uint8Array;
  inflate(bytes: Uint8Array): Uint8Array;
}

/** Payloads whose JSON is at least this long are compressed (deflate costs ~15 µs a call here). */
export const COMPRESS_PAYLOAD_CHARS = 512;

/** The SQL of an id bound by `pushId`: its 16 bytes for a canonical lowercase UUID, else its text. */
export const ID_SQL = "coalesce(unhex(?, '-'), ?)";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Whether `id` is stored as its bytes: a canonical lowercase UUID. Checked here, not by SQLite:
 * its GLOB of that pattern costs ~4 µs a row, this ~0.1 µs.
 */
export function isCanonicalUuid(id: string): boolean {
  return id.length === 36 && UUID.test(id);
}

/** Pushes the two arguments of `ID_SQL` for `id` (`uuid`: `isCanonicalUuid(id)`, if known). */
export function pushId(args: SqlValue[], id: string, uuid = isCanonicalUuid(id)): void {
  if (uuid) args.push(id, null);
  else args.push(null, id);
}

/**
 * SQL of a stored `id` as the id's text: SQLite formats the bytes of a UUID back to 8-4-4-4-12
 * lowercase hex. Done there, the driver hands over one flat string per row instead of a Uint8Array
 * that JS would format (20 % more read time, measured). For the few ids of a dedup check.
 */
export const ID_TEXT_SQL =
  "iif(typeof(id) = 'blob', lower(substr(hex(id), 1, 8) || '-' || substr(hex(id), 9, 4) || '-' || " +
  "substr(hex(id), 13, 4) || '-' || substr(hex(id), 17, 4) || '-' || substr(hex(id), 21)), id)";

/**
 * SQL of a stored `id` in rows read in bulk, two columns: `id`, a UUID's 32 lowercase hex digits
 * (one `hex` call) or the text id, and `uuid`, 1 for a UUID, whose dashes `EventCodec.event` puts
 * back. SQLite building the dashed text itself (`ID_TEXT_SQL`: five `hex` and `substr` calls)
 * made reading a row ~1.5 times as expensive as reading it without its id (bench/storage.ts).
 */
export const ID_COLUMNS_SQL =
  "iif(typeof(id) = 'blob', lower(hex(id)), id) AS id, typeof(id) = 'blob' AS uuid";

/** The columns of a partition row in their stored form (`ts` is the absolute time, computed in SQL). */
export interface PointRow {
  seq: number;
  ts: number;
  device: number | Uint8Array;
  type: number | Uint8Array;
  value: number | null;
  lag: number;
  partition: number;
}

export interface EventRow extends PointRow {
  /** As `ID_COLUMNS_SQL` reads it: a UUID's 32 hex digits (`uuid` 1), or the text id (`uuid` 0). */
  id: string;
  uuid: number;
  metadata: number | Uint8Array | null;
  data: string | Uint8Array | null;
}

/** The columns of a partition row, in insert order. */
export const ROW_COLUMNS = "seq, ms, device, type, value, lag, partition, id, metadata, data";
/** Placeholders of one row of `ROW_COLUMNS` (the id is two arguments, see `ID_SQL`). */
export const ROW_VALUES = `(?, ?, ?, ?, ?, ?, ?, ${ID_SQL}, ?, ?)`;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Encodes events into partition rows and decodes rows into events, with the dictionary. */
export class EventCodec {
  constructor(
    readonly dictionary: EventDictionary,
    private readonly payloads: PayloadCodec | null,
  ) {}

  /**
   * Pushes the arguments of `ROW_VALUES` for `e`, stored with `seq` in the partition of `dayStart`
   * (`uuid`: `isCanonicalUuid(e.id)`, if known).
   */
  pushRow(args: SqlValue[], e: EnrichedEvent, seq: number, dayStart: number, uuid?: boolean): void {
    const d = this.dictionary;
    args.push(
      seq,
      e.timestamp - dayStart,
      d.encode("device", e.deviceId),
      d.encode("type", e.eventType),
      e.value,
      e.receivedAt - e.timestamp,
      e.partition,
    );
    pushId(args, e.id, uuid);
    args.push(e.metadata ? d.encode("tags", JSON.stringify(e.metadata)) : null, this.#payload(e.data));
  }

  point(r: PointRow): CommittedEventPoint {
    const d = this.dictionary;
    return {
      seq: r.seq,
      deviceId: d.name("device", r.device) ?? "",
      eventType: d.name("type", r.type) ?? "",
      value: r.value,
      timestamp: r.ts,
      receivedAt: r.ts + r.lag,
      partition: r.partition,
    };
  }

  event(r: EventRow): StoredEvent {
    const h = r.id;
    return Object.assign(this.point(r), {
      id: r.uuid
        ? `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
        : h,
      metadata: this.dictionary.tags(r.metadata),
      data: this.#unpack(r.data),
    });
  }

  #payload(data: EnrichedEvent["data"]): string | Uint8Array | null {
    if (!data) return null;
    const json = JSON.stringify(data);
    if (this.payloads === null || json.length < COMPRESS_PAYLOAD_CHARS) return json;
    const bytes = utf8.encode(json);
    const packed = this.payloads.deflate(bytes);
    return packed.length < bytes.length ? packed : json;
  }

  #unpack(data: EventRow["data"]): StoredEvent["data"] {
    if (data === null) return null;
    if (typeof data === "string") return JSON.parse(data);
    if (this.payloads === null) {
      throw new StoreUnavailableError("read", {
        cause: new Error("a compressed payload needs the store's payloadCodec"),
      });
    }
    return JSON.parse(fromUtf8.decode(this.payloads.inflate(data)));
  }
}
