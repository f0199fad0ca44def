/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/#traceparent-header):
 * `traceparent: {version}-{trace-id}-{parent-id}-{trace-flags}`, lowercase hex.
 * We only read it, to put the trace id in log lines; an invalid header is
 * ignored, as the spec asks of a receiver.
 */

/** The fields of a valid `traceparent`. */
export interface TraceParent {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** The caller's span id: 16 lowercase hex digits, not all zero. */
  parentId: string;
  /** Trace flags, 0–255 (bit 0: sampled). */
  flags: number;
}

const VERSION_00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
// A later version may append fields after a dash; the first four parse as in version 00.
const FUTURE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_PARENT = "0".repeat(16);

/** Parses a `traceparent` header value; null when absent or invalid. */
export function parseTraceParent(header: string | null | undefined): TraceParent | null {
  if (!header || header.length > 512) return null;
  const value = header.trim();
  let traceId: string;
  let parentId: string;
  let flags: string;
  const v0 = VERSION_00.exec(value);
  if (v0) {
    [, traceId, parentId, flags] = v0;
  } else {
    const later = FUTURE.exec(value);
    // Version ff is forbidden; version 00 must be exactly 55 characters (handled above).
    if (!later || later[1] === "ff" || later[1] === "00") return null;
    [, , traceId, parentId, flags] = later;
  }
  if (traceId === ZERO_TRACE || parentId === ZERO_PARENT) return null;
  return { traceId, parentId, flags: parseInt(flags, 16) };
}
