/**
 * Prometheus text exposition format 0.0.4: the shapes a scrape is made of and
 * their rendering. Pure functions over plain data; see
 * https://prometheus.io/docs/instrumenting/exposition_formats/ for the format.
 */

/** The `Content-Type` of a scrape answer. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label name → value. A label whose value is `""` is left out (Prometheus treats them alike). */
export type Labels = Readonly<Record<string, string>>;

/** One counter or gauge sample. */
export interface ValueSample {
  labels?: Labels;
  value: number;
}

/**
 * One histogram series: `buckets` are `[upperBound, cumulativeCount]` pairs in ascending bound
 * order, without `+Inf` (its count is `count`).
 */
export interface HistogramSample {
  labels?: Labels;
  buckets: readonly (readonly [number, number])[];
  sum: number;
  count: number;
}

/** A metric family as it is exposed: name, help, type and its series. */
export type MetricFamily =
  | { name: string; help: string; type: "counter" | "gauge"; samples: readonly ValueSample[] }
  | { name: string; help: string; type: "histogram"; samples: readonly HistogramSample[] };

export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Why a family cannot be exposed, or null when it can: names (a counter's ends in `_total`),
 * label names, numeric values, no two series with the same label set, and for histograms
 * finite strictly ascending bounds with non-decreasing cumulative counts up to `count`.
 */
export function familyProblem(family: MetricFamily): string | null {
  const { name } = family;
  if (!METRIC_NAME.test(name)) return `invalid metric name ${JSON.stringify(name)}`;
  if (family.type === "counter" && !name.endsWith("_total")) return `counter ${name} must end in _total`;
  const labelSets = new Set<string>();
  for (const sample of family.samples) {
    const labels = sample.labels ?? {};
    for (const label of Object.keys(labels)) {
      if (
        !LABEL_NAME.test(label) || label.startsWith("__") || (family.type === "histogram" && label === "le")
      ) {
        return `invalid label name ${JSON.stringify(label)} in ${name}`;
      }
      if (typeof labels[label] !== "string") return `label ${label} of ${name} is not a string`;
    }
    const key = labelPairs(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))));
    if (labelSets.has(key)) return `duplicate series {${key}} in ${name}`;
    labelSets.add(key);
    const problem = family.type === "histogram"
      ? histogramProblem(sample as HistogramSample)
      : typeof (sample as ValueSample).value === "number"
      ? null
      : "value is not a number";
    if (problem) return `${problem} in ${name}{${key}}`;
  }
  return null;
}

/** The series names a family writes (a histogram's `_bucket`, `_sum` and `_count`). */
export function exposedNames(family: Pick<MetricFamily, "name" | "type">): string[] {
  const { name } = family;
  return family.type === "histogram" ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
}

function histogramProblem(s: HistogramSample): string | null {
  if (typeof s.sum !== "number" || typeof s.count !== "number") return "sum and count must be numbers";
  let bound = -Infinity;
  let running = 0;
  for (const [le, n] of s.buckets) {
    if (!Number.isFinite(le) || le <= bound) return "bucket bounds must be finite and strictly ascending";
    if (!(n >= running)) return "bucket counts must be cumulative (non-decreasing)";
    bound = le;
    running = n;
  }
  return s.count >= running ? null : "count is below the last bucket's count";
}

/** Renders families (already checked with `familyProblem`) as exposition text. */
export function renderFamilies(families: readonly MetricFamily[]): string {
  let out = "";
  for (const family of families) {
    out += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    if (family.type === "histogram") {
      for (const s of family.samples) {
        const base = labelPairs(s.labels);
        const sep = base ? "," : "";
        for (const [le, n] of s.buckets) {
          out += `${family.name}_bucket{${base}${sep}le="${formatNumber(le)}"} ${formatNumber(n)}\n`;
        }
        out += `${family.name}_bucket{${base}${sep}le="+Inf"} ${formatNumber(s.count)}\n`;
        const braces = base ? `{${base}}` : "";
        out += `${family.name}_sum${braces} ${formatNumber(s.sum)}\n`;
        out += `${family.name}_count${braces} ${formatNumber(s.count)}\n`;
      }
    } else {
      for (const s of family.samples) {
        const base = labelPairs(s.labels);
        out += `${family.name}${base ? `{${base}}` : ""} ${formatNumber(s.value)}\n`;
      }
    }
  }
  return out;
}

/** Go-parseable float text: `NaN`, `+Inf`, `-Inf`, else the shortest round-trip decimal. */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

/** Label values escape backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/** HELP text escapes backslash and line feed (not quotes). */
function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

function labelPairs(labels: Labels | undefined): string {
  if (!labels) return "";
  let out = "";
  for (const name in labels) {
    const value = labels[name];
    if (value === "") continue;
    out += `${out ? "," : ""}${name}="${escapeLabelValue(value)}"`;
  }
  return out;
}
