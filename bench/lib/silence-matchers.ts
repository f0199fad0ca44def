/**
 * The matchers of the benchmarks' silences (bench/alerts.ts, bench/silences.ts): `count - 1`
 * regular expressions on the `note` label that accept any run of `n` (the benchmarks' label
 * value), different per silence `index` (the class letter and the counts vary), then one matcher
 * that refuses, so each silence is matched in full against every label set and none silences.
 */
import type { Matcher } from "../../backend/alerts/model.ts";

export function benchSilenceMatchers(index: number, count: number): Matcher[] {
  const c = String.fromCharCode(97 + (index % 26));
  return [
    ...Array.from({ length: count - 1 }, (_, m) => ({
      name: "note",
      value: `[${c}n]*(n|${c}{${(m % 9) + 1}})*[^${c}]{0,${m % 40}}n*`,
      isRegex: true,
      isEqual: true,
    })),
    { name: "alertname", value: "none-of-them", isRegex: false, isEqual: true },
  ];
}
