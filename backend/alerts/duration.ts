/** Durations as the alerting API speaks them: "30s", "5m", "1h", "1d" or integer ms. */

const UNITS: [string, number][] = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000], [
  "ms",
  1,
]];
const PATTERN = /^(\d{1,12})(ms|s|m|h|d)$/;

/** `"1m"` → 60000, an integer → itself; null when neither or negative. Zero is allowed. */
export function parseAlertDuration(input: unknown): number | null {
  if (typeof input === "number") return Number.isSafeInteger(input) && input >= 0 ? input : null;
  if (typeof input !== "string") return null;
  const m = PATTERN.exec(input.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNITS.find(([u]) => u === m[2])![1];
  return Number.isSafeInteger(ms) ? ms : null;
}

/** 60000 → `"1m"`, 90000 → `"90s"`, 0 → `"0s"`: the largest unit that divides exactly. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
