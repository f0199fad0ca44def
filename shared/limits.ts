/**
 * Limits a client controls, in one place so that the server, the docs and the
 * dashboard agree. Every value is configurable through an environment variable
 * (see `docs/CONFIGURATION.md`); these are the defaults.
 */
export interface EventLimits {
  /** Maximum length of a client-chosen event id (chars of `[A-Za-z0-9._:-]`). */
  maxIdLength: number;
  /** Maximum length of `deviceId` in characters. */
  maxDeviceIdLength: number;
  /** Maximum length of `eventType` in characters. */
  maxEventTypeLength: number;
  /** Maximum number of `metadata` keys. */
  maxMetadataKeys: number;
  /** Maximum length of a `metadata` key in characters. */
  maxMetadataKeyLength: number;
  /** Maximum length of a string `metadata` value in characters. */
  maxMetadataValueLength: number;
  /** Maximum size of `data` serialised as JSON, in UTF-8 bytes. */
  maxDataBytes: number;
  /** Maximum nesting depth of `data` (the object itself is depth 1). */
  maxDataDepth: number;
  /** How far in the future (ms, relative to the server clock) a timestamp may be. */
  maxFutureSkewMs: number;
  /** Raw-event retention (ms): older timestamps are refused at ingest. */
  retentionMs: number;
}

/** Request-level limits for `POST /v1/events`. */
export interface RequestLimits {
  /** Maximum request body in bytes, measured after gzip decompression. */
  maxBodyBytes: number;
  /** Maximum number of events in one request. */
  maxEventsPerRequest: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = {
  maxIdLength: 128,
  maxDeviceIdLength: 128,
  maxEventTypeLength: 64,
  maxMetadataKeys: 32,
  maxMetadataKeyLength: 64,
  maxMetadataValueLength: 256,
  maxDataBytes: 16 * 1024,
  maxDataDepth: 32,
  maxFutureSkewMs: 5 * 60_000,
  retentionMs: 7 * 24 * 3_600_000,
};

export const DEFAULT_REQUEST_LIMITS: RequestLimits = {
  maxBodyBytes: 10 * 1024 * 1024,
  maxEventsPerRequest: 10_000,
};
