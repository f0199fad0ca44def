/**
 * The payload codec of the SQLite store on `node:zlib` (Deno 2 and Node both
 * have it): raw deflate at level 2. Deno's zlib compresses much less at level 1
 * (JSON of 1 KB to 42 % instead of 29 %); from level 2 on both runtimes keep
 * about 30 % of a JSON payload, and higher levels cost more for little
 * (measured per payload size in docs/PERFORMANCE.md).
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { PayloadCodec } from "../../store/sqlite/event-encoding.ts";

export const zlibPayloadCodec: PayloadCodec = {
  deflate: (bytes) => new Uint8Array(deflateRawSync(bytes, { level: 2 })),
  inflate: (bytes) => new Uint8Array(inflateRawSync(bytes)),
};
