/**
 * A small Prometheus registry: counters, gauges and histograms whose label
 * children are resolved once (at wiring time) and then cost one addition per
 * update, plus collectors — functions called at scrape time — through which any
 * subsystem exposes figures it already keeps, without touching its hot path.
 *
 * Why not prom-client: it is CommonJS built for Node (its index loads `cluster`
 * and `worker_threads`, its default metrics read `/proc` and `perf_hooks`), so
 * it cannot live in our runtime-agnostic core; the text format it would save us
 * is ~100 lines (`exposition.ts`), checked by promtool and a real Prometheus in
 * `tests/prometheus.test.ts`.
 *
 * A disabled registry (`enabled: false`, config `METRICS_INSTRUMENTATION=off`)
 * hands out shared no-op children, so instrumented code runs unchanged at the
 * cost of an empty call; it is what the instrumentation benchmark compares with.
 */
import {
  exposedNames,
  familyProblem,
  type HistogramSample,
  type Labels,
  type MetricFamily,
  renderFamilies,
  type ValueSample,
} from "./exposition.ts";

/** A counter series: only goes up (by `n ≥ 0`). */
export interface CounterChild {
  inc(n?: number): void;
}

/** A gauge series: set, or moved up and down. */
export interface GaugeChild {
  set(value: number): void;
  inc(n?: number): void;
  dec(n?: number): void;
}

/** A histogram series: `observe(value)` in the family's unit (seconds, bytes, events). */
export interface HistogramChild {
  observe(value: number): void;
}

/**
 * Returns families computed at scrape time (from state a subsystem keeps anyway). Called once
 * per scrape; may be async (bounded by the registry's collector timeout). A collector that throws
 * or times out is reported through `onError` and left out of that scrape; the rest still render.
 */
export type Collector = () => readonly MetricFamily[] | Promise<readonly MetricFamily[]>;

export interface MetricDef<L extends string> {
  /** Full name, e.g. `pulsestream_events_total` (counters end in `_total`, units are base units). */
  name: string;
  help: string;
  labelNames?: readonly L[];
}

export interface RegistryOptions {
  /** `false`: every instrument is a no-op and `render()` returns "". Default true. */
  enabled?: boolean;
  /** Collector failures and rejected families (default: ignored). */
  onError?: (message: string, error?: unknown) => void;
  /** Longest wait for an async collector per scrape, ms (default 5000). */
  collectorTimeoutMs?: number;
}

/** Most series one collected family may expose per scrape (a guard against label explosions). */
export const MAX_COLLECTED_SERIES = 10_000;

const NOOP = { inc() {}, dec() {}, set() {}, observe() {} };

abstract class Instrument<L extends string, C> {
  readonly #children = new Map<string, { labels: Labels; cell: C }>();
  constructor(
    readonly def: MetricDef<L>,
    protected readonly enabled: boolean,
  ) {}

  /** The series for these label values (in `labelNames` order); resolve once, keep the result. */
  labels(...values: string[]): C {
    const names = this.def.labelNames ?? [];
    if (values.length !== names.length) {
      throw new Error(`${this.def.name} takes ${names.length} label values, got ${values.length}`);
    }
    if (!this.enabled) return NOOP as C;
    const key = values.join("\u0000");
    let child = this.#children.get(key);
    if (!child) {
      const labels: Record<string, string> = {};
      names.forEach((n, i) => (labels[n] = values[i]));
      child = { labels, cell: this.create() };
      this.#children.set(key, child);
    }
    return child.cell;
  }

  protected abstract create(): C;
  protected abstract sample(labels: Labels, cell: C): ValueSample | HistogramSample;

  /** The family with every resolved series, in resolution order. */
  snapshot(): MetricFamily {
    const samples = [...this.#children.values()].map((c) => this.sample(c.labels, c.cell));
    return { name: this.def.name, help: this.def.help, type: this.type, samples } as MetricFamily;
  }

  protected abstract readonly type: MetricFamily["type"];
}

class CounterCell implements CounterChild {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

class GaugeCell implements GaugeChild {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

class HistogramCell implements HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: Float64Array) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    if (v !== v) return; // NaN
    this.count++;
    this.sum += v;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]) {
        this.counts[i]++;
        return;
      }
    }
  }
}

export class Counter<L extends string = string> extends Instrument<L, CounterChild> {
  protected readonly type = "counter" as const;
  protected create(): CounterChild {
    return new CounterCell();
  }
  protected sample(labels: Labels, cell: CounterChild): ValueSample {
    return { labels, value: (cell as CounterCell).value };
  }
}

export class Gauge<L extends string = string> extends Instrument<L, GaugeChild> {
  protected readonly type = "gauge" as const;
  protected create(): GaugeChild {
    return new GaugeCell();
  }
  protected sample(labels: Labels, cell: GaugeChild): ValueSample {
    return { labels, value: (cell as GaugeCell).value };
  }
}

export class Histogram<L extends string = string> extends Instrument<L, HistogramChild> {
  protected readonly type = "histogram" as const;
  readonly #bounds: Float64Array;
  constructor(def: MetricDef<L> & { buckets: readonly number[] }, enabled: boolean) {
    super(def, enabled);
    const ok = def.buckets.length > 0 &&
      def.buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b > def.buckets[i - 1]));
    if (!ok) throw new Error(`${def.name}: buckets must be finite and strictly ascending`);
    this.#bounds = Float64Array.from(def.buckets);
  }
  protected create(): HistogramChild {
    return new HistogramCell(this.#bounds);
  }
  protected sample(labels: Labels, cell: HistogramChild): HistogramSample {
    const c = cell as HistogramCell;
    let running = 0;
    const buckets = Array.from(c.bounds, (le, i) => [le, running += c.counts[i]] as const);
    return { labels, buckets, sum: c.sum, count: c.count };
  }
}

export class MetricsRegistry {
  readonly enabled: boolean;
  readonly #instruments: Instrument<string, unknown>[] = [];
  readonly #collectors = new Set<Collector>();
  readonly #names = new Set<string>();
  readonly #onError: (message: string, error?: unknown) => void;
  readonly #timeoutMs: number;

  constructor(options: RegistryOptions = {}) {
    this.enabled = options.enabled ?? true;
    this.#onError = options.onError ?? (() => {});
    this.#timeoutMs = options.collectorTimeoutMs ?? 5000;
  }

  counter<L extends string = never>(def: MetricDef<L>): Counter<L> {
    if (!def.name.endsWith("_total")) throw new Error(`counter ${def.name} must end in _total`);
    return this.#add(new Counter(def, this.enabled));
  }

  gauge<L extends string = never>(def: MetricDef<L>): Gauge<L> {
    return this.#add(new Gauge(def, this.enabled));
  }

  histogram<L extends string = never>(def: MetricDef<L> & { buckets: readonly number[] }): Histogram<L> {
    if ((def.labelNames as readonly string[] | undefined)?.includes("le")) {
      throw new Error(`histogram ${def.name} must not have a label named le`);
    }
    return this.#add(new Histogram(def, this.enabled));
  }

  /**
   * Adds a collector called at every scrape; returns a function that removes it. Families it
   * returns must not reuse a name registered here (such a family is left out and reported).
   */
  collect(collector: Collector): () => void {
    this.#collectors.add(collector);
    return () => this.#collectors.delete(collector);
  }

  /** Every family: registered instruments first, then collected ones; invalid ones left out. */
  async families(): Promise<MetricFamily[]> {
    if (!this.enabled) return [];
    const out = this.#instruments.map((i) => i.snapshot());
    const seen = new Set(out.flatMap(exposedNames));
    const collected = await Promise.all([...this.#collectors].map((c) => this.#run(c)));
    for (const family of collected.flat()) {
      const clash = exposedNames(family).find((n) => seen.has(n));
      const problem = clash ? `duplicate metric name ${clash}` : familyProblem(family);
      if (problem) {
        this.#onError(`metric family left out: ${problem}`);
        continue;
      }
      for (const n of exposedNames(family)) seen.add(n);
      if (family.samples.length > MAX_COLLECTED_SERIES) {
        this.#onError(`metric family ${family.name} truncated to ${MAX_COLLECTED_SERIES} series`);
        out.push({ ...family, samples: family.samples.slice(0, MAX_COLLECTED_SERIES) } as MetricFamily);
      } else out.push(family);
    }
    return out;
  }

  /**
   * The current series of the instrument registered as `name` (collectors are not asked), for
   * readers in the process such as the live `stats` channel; undefined when the registry is
   * disabled or has no such instrument.
   */
  read(name: string): MetricFamily | undefined {
    if (!this.enabled) return undefined;
    return this.#instruments.find((i) => i.def.name === name)?.snapshot();
  }

  /** The exposition text of `families()`. */
  async render(): Promise<string> {
    return renderFamilies(await this.families());
  }

  #add<T extends Instrument<string, unknown>>(instrument: T): T {
    const { name, labelNames = [] } = instrument.def;
    const names = exposedNames(instrument.snapshot());
    const clash = names.find((n) => this.#names.has(n));
    if (clash) throw new Error(`metric ${clash} is already registered`);
    const problem = familyProblem({
      name,
      help: "",
      type: "gauge",
      samples: [{ labels: Object.fromEntries(labelNames.map((n) => [n, "x"])), value: 0 }],
    });
    if (problem) throw new Error(problem);
    for (const n of names) this.#names.add(n);
    this.#instruments.push(instrument);
    return instrument;
  }

  async #run(collector: Collector): Promise<readonly MetricFamily[]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`collector took over ${this.#timeoutMs} ms`)),
          this.#timeoutMs,
        );
      });
      return await Promise.race([Promise.resolve().then(collector), timeout]);
    } catch (error) {
      this.#onError("metrics collector failed", error);
      return [];
    } finally {
      clearTimeout(timer);
    }
  }
}
