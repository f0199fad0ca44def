/**
 * The times and duration units PulseStream reads in events, query parameters and the
 * dashboard's URLs (`step=5m`, `from=now-1h`, `2026-11-30T23:00Z`), in one place so that the
 * server and the dashboard accept the same spellings.
 */

/** Milliseconds per unit. */
export const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Epoch ms of `now` or `now-<n><unit>` (ms, s, m, h, d, w) at `now`; null for any other text. */
export function relativeTime(text: string, now: number): number | null {
  const m = /^now(?:-(\d+)(ms|s|m|h|d|w))?$/.exec(text);
  if (!m) return null;
  return m[1] ? now - Number(m[1]) * UNIT_MS[m[2]] : now;
}

/*
 * Strict ISO-8601 date-times. `Date.parse` rolls impossible dates over (`2026-11-31` becomes
 * December 1st, `T24:00` the next day), so a date-time is checked field by field first: a real
 * calendar day (leap years included), hours 00-23, minutes and seconds 00-59 (no leap second:
 * JavaScript dates have none), and a time-zone offset of at most ±23:59.
 */
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2})))?$/;

/** Days in `month` (1-12) of `year` in the proleptic Gregorian calendar. */
function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Epoch ms of an ISO-8601 date-time with a time zone (`2026-11-30T23:00Z`,
 * `2026-11-30T23:00:00.5+01:00`), or of a date alone (`2026-11-30`, UTC midnight) when
 * `dateOnly` allows it; `null` for anything else, including dates and times that do not exist.
 */
export function parseIsoDateTime(text: string, options: { dateOnly?: boolean } = {}): number | null {
  const m = DATE_TIME.exec(text);
  if (!m) return null;
  const [, year, month, day, hour, minute, second, offsetHours, offsetMinutes] = m;
  if (hour === undefined && !options.dateOnly) return null;
  const y = Number(year);
  const mo = Number(month);
  if (mo < 1 || mo > 12) return null;
  const d = Number(day);
  if (d < 1 || d > daysInMonth(y, mo)) return null;
  if (hour !== undefined && (Number(hour) > 23 || Number(minute) > 59)) return null;
  if (second !== undefined && Number(second) > 59) return null;
  if (offsetHours !== undefined && (Number(offsetHours) > 23 || Number(offsetMinutes) > 59)) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : null;
}
