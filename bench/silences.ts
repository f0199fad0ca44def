/**
 * Silence matching cost, in process (no store): S active silences of M
 * matchers each (M-1 different regular expressions that accept a
 * `--label-chars` label, then one that refuses, so each silence is matched in
 * full and none silences), against L label sets, as `AlertCatalog.silencedBy`
 * is asked on every alert change, live update, timer and listing. Prints the
 * time of the first answer for each label set (a new alert) and of asking all
 * L label sets again `repeat` times (what every later change, timer round and
 * `GET /v1/alerts` asks).
 *
 *   deno run -A bench/silences.ts [silences=10] [matchers=32] [labelSets=1000] [repeat=10] [--label-chars=1024]
 */
import { AlertCatalog } from "../backend/alerts/catalog.ts";
import type { Silence } from "../backend/alerts/model.ts";
import { benchSilenceMatchers } from "./lib/silence-matchers.ts";

const positional = Deno.args.filter((a) => !a.startsWith("--"));
const [silences = 10, matchers = 32, labelSets = 1000, repeat = 10] = positional.map(Number);
const labelChars = Number(Deno.args.find((a) => a.startsWith("--label-chars="))?.split("=")[1] ?? 1024);
const NOW = Date.parse("2026-12-07T12:00:00Z");

const catalog = new AlertCatalog();
for (let i = 0; i < silences; i++) {
  const silence: Silence = {
    id: `sil_${i}`,
    matchers: benchSilenceMatchers(i, matchers),
    startsAt: NOW - 60_000,
    endsAt: NOW + 3_600_000,
    createdBy: "bench",
    comment: "bench",
  };
  // `putSilence` keeps the matching cache exact; the code before it had only the map.
  const c2 = catalog as unknown as { putSilence?: (s: Silence) => void; silences: Map<string, Silence> };
  if (c2.putSilence) c2.putSilence(silence);
  else c2.silences.set(silence.id, silence);
}
const note = "n".repeat(labelChars);
const sets = Array.from({ length: labelSets }, (_, i) => ({
  alertname: `rule-${i % 50}`,
  severity: "warning",
  note,
  deviceId: `dev-${i}`,
}));

let t = performance.now();
let silenced = 0;
let slowest = 0;
for (const labels of sets) {
  const one = performance.now();
  if (catalog.silencedBy(labels, NOW)) silenced++;
  slowest = Math.max(slowest, performance.now() - one);
}
const first = performance.now() - t;
t = performance.now();
for (let r = 0; r < repeat; r++) {
  for (const labels of sets) if (catalog.silencedBy(labels, NOW + r)) silenced++;
}
const again = performance.now() - t;
console.log(
  `${silences} silences x ${matchers} matchers, ${labelSets} label sets with a ${labelChars}-char label: ` +
    `first answers ${first.toFixed(1)} ms (${(first / labelSets).toFixed(3)} ms per label set, slowest ` +
    `${slowest.toFixed(1)} ms); ${repeat} more passes ${again.toFixed(1)} ms ` +
    `(${((again / repeat / labelSets) * 1000).toFixed(2)} µs per answer); silenced ${silenced}`,
);
