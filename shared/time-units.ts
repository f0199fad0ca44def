/**
 * The duration units PulseStream reads in query parameters and the dashboard's
 * URLs (`step=5m`, `from=now-1h`), in one place so that the server and the
 * dashboard accept the same spellings.
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
