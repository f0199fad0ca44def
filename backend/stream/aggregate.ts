/**
 * The aggregate kept per window: count, sum, min, max, last value, a DDSketch
 * for quantiles (relative error ≤ 1%, @datadog/sketches-js) and, for
 * all-device windows, a HyperLogLog of device ids. Aggregates merge exactly
 * (count/sum/min/max/last) or as their sketches allow, so stored buckets of
 * any range and step combine into coarser ones.
 */
import { DDSketch } from "@datadog/sketches-js";
import type { AggregateName } from "../../shared/aggregates.ts";
import { HyperLogLog } from "./hll.ts";

/** Relative accuracy of every quantile sketch. */
export const SKETCH_RELATIVE_ACCURACY = 0.01;

export { type AggregateName, AGGREGATES } from "../../shared/aggregates.ts";

const QUANTILES: Partial<Record<AggregateName, number>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

/** The scalar (sketch-free) numbers of an aggregate, as columns are kept for fast queries. */
export const SCALAR_FIELDS = [
  "count",
  "valueCount",
  "sum",
  "min",
  "max",
  "lastValue",
  "lastTs",
  "lastSeq",
] as const;
export type ScalarField = typeof SCALAR_FIELDS[number];

/** The serialised form of an aggregate (what a store keeps per bucket). */
export interface AggState {
  /** Events in the window, with or without a value. */
  count: number;
  /** Events with a numeric value. */
  valueCount: number;
  sum: number;
  min: number | null;
  max: number | null;
  /** Value of the latest valued event by (timestamp, seq). */
  lastValue: number | null;
  lastTs: number | null;
  lastSeq: number | null;
  /** Earliest and latest event time in the window (all events, valued or not). */
  minTs: number | null;
  maxTs: number | null;
  /** Encoded DDSketch of the values (`encodeSketch`), null when no event had a value. */
  sketch: Uint8Array | null;
  /** Encoded HyperLogLog of device ids (all-device windows only), or null. */
  devices: Uint8Array | null;
}

/**
 * Most values an aggregate keeps as a plain list before it builds its DDSketch. Most aggregates of
 * a fleet's history hold a handful of events (a late event's cell, a device's minute a day ago):
 * a sketch (bin arrays, a mapping) for each cost more in allocation and garbage collection than
 * the events themselves (issue 17). The list gives the same bins, quantiles and encoded bytes as
 * the sketch it stands for: a sketch's bins are integer counts per key, whatever the order of
 * the values.
 */
const RAW_MAX = 16;

export class Agg {
  count = 0;
  valueCount = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  lastValue: number | null = null;
  lastTs = -Infinity;
  lastSeq = -1;
  minTs = Infinity;
  maxTs = -Infinity;
  #sketch: DDSketch | null = null;
  /** The values while there is no sketch (at most `RAW_MAX`); never both. */
  #raw: number[] | null = null;
  devices: HyperLogLog | null = null;

  /** The DDSketch of the values (built from the value list on first use), null without values. */
  get sketch(): DDSketch | null {
    if (this.#raw) this.#buildSketch();
    return this.#sketch;
  }

  #buildSketch(): void {
    const sketch = newSketch();
    for (const v of this.#raw!) sketch.accept(v);
    this.#sketch = sketch;
    this.#raw = null;
  }

  #acceptAll(values: readonly number[]): void {
    if (this.#sketch) {
      for (const v of values) this.#sketch.accept(v);
      return;
    }
    const raw = this.#raw ??= [];
    for (const v of values) raw.push(v);
    if (raw.length > RAW_MAX) this.#buildSketch();
  }

  /** Adds one event. `value` null counts the event without a value. */
  add(value: number | null, ts: number, seq: number): void {
    this.count++;
    if (ts < this.minTs) this.minTs = ts;
    if (ts > this.maxTs) this.maxTs = ts;
    if (value === null) return;
    this.valueCount++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (ts > this.lastTs || (ts === this.lastTs && seq > this.lastSeq)) {
      this.lastTs = ts;
      this.lastSeq = seq;
      this.lastValue = value;
    }
    if (this.#sketch) this.#sketch.accept(value);
    else {
      const raw = this.#raw ??= [];
      raw.push(value);
      if (raw.length > RAW_MAX) this.#buildSketch();
    }
  }

  /** Adds another aggregate's contents into this one; `withSketches` false skips the sketches. */
  merge(other: Agg, withSketches = true): void {
    this.count += other.count;
    if (other.minTs < this.minTs) this.minTs = other.minTs;
    if (other.maxTs > this.maxTs) this.maxTs = other.maxTs;
    if (withSketches && other.devices) (this.devices ??= new HyperLogLog()).merge(other.devices);
    if (other.valueCount === 0) return;
    this.valueCount += other.valueCount;
    this.sum += other.sum;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    if (other.lastTs > this.lastTs || (other.lastTs === this.lastTs && other.lastSeq > this.lastSeq)) {
      this.lastTs = other.lastTs;
      this.lastSeq = other.lastSeq;
      this.lastValue = other.lastValue;
    }
    if (!withSketches) return;
    if (other.#sketch) {
      if (!this.#sketch) {
        const raw = this.#raw;
        this.#sketch = copySketch(other.#sketch);
        this.#raw = null;
        if (raw) { for (const v of raw) this.#sketch.accept(v); }
      } else mergeSketch(this.#sketch, other.#sketch);
    } else if (other.#raw) this.#acceptAll(other.#raw);
  }

  /** Records a device in the distinct-device counter. */
  addDevice(hash: number): void {
    (this.devices ??= new HyperLogLog()).addHash(hash);
  }

  clone(): Agg {
    const copy = new Agg();
    copy.merge(this);
    return copy;
  }

  /** The value of `name`; null where undefined (no valued events). `distinct` needs `devices`. */
  value(name: AggregateName, exactDevices?: number): number | null {
    switch (name) {
      case "count":
        return this.count;
      case "sum":
        return this.valueCount ? this.sum : null;
      case "min":
        return this.valueCount ? this.min : null;
      case "max":
        return this.valueCount ? this.max : null;
      case "avg":
        return this.valueCount ? this.sum / this.valueCount : null;
      case "last":
        return this.lastValue;
      case "distinct":
        return exactDevices ?? (this.devices ? this.devices.count() : this.count > 0 ? 1 : 0);
      default: {
        if (!this.sketch || this.valueCount === 0) return null;
        // Clamp to the exact extremes: the sketch answers within 1% of the true quantile.
        const q = this.sketch.getValueAtQuantile(QUANTILES[name]!);
        return Math.min(this.max, Math.max(this.min, q));
      }
    }
  }

  toState(): AggState {
    const valued = this.valueCount > 0;
    return {
      count: this.count,
      valueCount: this.valueCount,
      sum: this.sum,
      min: valued ? this.min : null,
      max: valued ? this.max : null,
      lastValue: this.lastValue,
      lastTs: valued ? this.lastTs : null,
      lastSeq: valued ? this.lastSeq : null,
      minTs: this.count ? this.minTs : null,
      maxTs: this.count ? this.maxTs : null,
      sketch: this.#sketch ? encodeSketch(this.#sketch) : this.#raw ? encodeValues(this.#raw) : null,
      devices: this.devices ? this.devices.encode() : null,
    };
  }

  static fromState(s: AggState): Agg {
    const a = new Agg();
    a.count = s.count;
    a.valueCount = s.valueCount;
    a.sum = s.sum;
    a.min = s.min ?? Infinity;
    a.max = s.max ?? -Infinity;
    a.lastValue = s.lastValue;
    a.lastTs = s.lastTs ?? -Infinity;
    a.lastSeq = s.lastSeq ?? -1;
    a.minTs = s.minTs ?? Infinity;
    a.maxTs = s.maxTs ?? -Infinity;
    a.#sketch = s.sketch ? decodeSketch(s.sketch) : null;
    a.devices = s.devices ? HyperLogLog.decode(s.devices) : null;
    return a;
  }
}

/**
 * Merges two aggregate states (what a store does when it folds a delta into a stored bucket). The
 * sketches merge in their encoded form (bins are counts per key: the union adds them), without
 * building a DDSketch for each side; the bytes are those of `encodeSketch` of the merged sketch.
 */
export function mergeStates(stored: AggState, delta: AggState): AggState {
  const a = Agg.fromState({ ...stored, sketch: null });
  a.merge(Agg.fromState({ ...delta, sketch: null }));
  const merged = a.toState();
  merged.sketch = stored.sketch || delta.sketch ? mergeEncodedSketches(stored.sketch, delta.sketch) : null;
  return merged;
}

/** Bins of one store of an encoded sketch: keys ascending, counts > 0. */
type Bins = { keys: number[]; counts: number[] };

function readBins(bytes: Uint8Array, cursor: { at: number }): Bins {
  const entries = readVarint(bytes, cursor);
  const bins: Bins = { keys: new Array(entries), counts: new Array(entries) };
  let key = 0;
  for (let i = 0; i < entries; i++) {
    const z = readVarint(bytes, cursor);
    key += z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    bins.keys[i] = key;
    bins.counts[i] = readVarint(bytes, cursor);
  }
  return bins;
}

function writeMergedBins(out: number[], a: Bins, b: Bins): void {
  const keys: number[] = [];
  const counts: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.keys.length || j < b.keys.length) {
    if (j >= b.keys.length || (i < a.keys.length && a.keys[i] < b.keys[j])) {
      keys.push(a.keys[i]);
      counts.push(a.counts[i++]);
    } else if (i >= a.keys.length || b.keys[j] < a.keys[i]) {
      keys.push(b.keys[j]);
      counts.push(b.counts[j++]);
    } else {
      keys.push(a.keys[i]);
      counts.push(a.counts[i++] + b.counts[j++]);
    }
  }
  writeVarint(out, keys.length);
  let previous = 0;
  for (let k = 0; k < keys.length; k++) {
    const delta = keys[k] - previous;
    writeVarint(out, delta >= 0 ? delta * 2 : -delta * 2 - 1);
    writeVarint(out, counts[k]);
    previous = keys[k];
  }
}

const NO_BINS: Bins = { keys: [], counts: [] };

/** `encodeSketch` of the merge of two encoded sketches (either may be null). */
function mergeEncodedSketches(a: Uint8Array | null, b: Uint8Array | null): Uint8Array {
  const parts = [a, b].map((bytes) => {
    if (!bytes) return { zeros: 0, positive: NO_BINS, negative: NO_BINS };
    if (bytes[0] !== SKETCH_FORMAT) throw new Error("not an encoded sketch");
    const cursor = { at: 1 };
    const zeros = readVarint(bytes, cursor);
    const positive = readBins(bytes, cursor);
    return { zeros, positive, negative: readBins(bytes, cursor) };
  });
  const out: number[] = [SKETCH_FORMAT];
  writeVarint(out, parts[0].zeros + parts[1].zeros);
  writeMergedBins(out, parts[0].positive, parts[1].positive);
  writeMergedBins(out, parts[0].negative, parts[1].negative);
  return Uint8Array.from(out);
}

/**
 * Bins a sketch's stores grow by. The library's 128 cost a new per-device window 3 arrays of 128
 * numbers at its first value (allocated, then shifted to centre), most of the fold of a new device
 * and of its garbage; the bins one device's values use in a window are usually a few.
 */
const SKETCH_CHUNK_BINS = 16;
/** One key mapping for every sketch (it is immutable; merges compare its gamma). */
const MAPPING = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY }).mapping;

function newSketch(): DDSketch {
  const s = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
  s.mapping = MAPPING;
  s.store.chunkSize = SKETCH_CHUNK_BINS;
  s.negativeStore.chunkSize = SKETCH_CHUNK_BINS;
  return s;
}

/**
 * `a.merge(b)` of @datadog/sketches-js 2.1.1 merges the positive store but not the negative one
 * (it only copies it when `a` is empty), so negative values would be lost; merge it here.
 */
function mergeSketch(a: DDSketch, b: DDSketch): void {
  const bothNonEmpty = a.count !== 0 && b.count !== 0;
  a.merge(b);
  if (bothNonEmpty) a.negativeStore.merge(b.negativeStore);
}

function copySketch(s: DDSketch): DDSketch {
  const copy = newSketch();
  mergeSketch(copy, s);
  return copy;
}

// Sketch encoding: version byte, zero count, then the positive and negative stores, each as
// (non-empty bin count, then per non-empty bin: key delta zigzag varint, count varint).
// Much smaller than the library's protobuf form, which writes every allocated (mostly empty) bin.
const SKETCH_FORMAT = 1;

type Store = DDSketch["store"];

export function encodeSketch(s: DDSketch): Uint8Array {
  const out: number[] = [SKETCH_FORMAT];
  writeVarint(out, s.zeroCount);
  writeStore(out, s.store);
  writeStore(out, s.negativeStore);
  return Uint8Array.from(out);
}

export function decodeSketch(bytes: Uint8Array): DDSketch {
  if (bytes[0] !== SKETCH_FORMAT) throw new Error("not an encoded sketch");
  const s = newSketch();
  const cursor = { at: 1 };
  s.zeroCount = readVarint(bytes, cursor);
  readStore(bytes, cursor, s.store);
  readStore(bytes, cursor, s.negativeStore);
  s.count = s.zeroCount + s.store.count + s.negativeStore.count;
  return s;
}

function writeStore(out: number[], store: Store): void {
  if (store.count === 0) {
    writeVarint(out, 0);
    return;
  }
  const entries: [number, number][] = [];
  for (let key = store.minKey; key <= store.maxKey; key++) {
    const n = store.bins[key - store.offset];
    if (n) entries.push([key, n]);
  }
  writeVarint(out, entries.length);
  let previous = 0;
  for (const [key, n] of entries) {
    const delta = key - previous;
    writeVarint(out, delta >= 0 ? delta * 2 : -delta * 2 - 1);
    writeVarint(out, n);
    previous = key;
  }
}

/** `encodeSketch` of a sketch that accepted `values`, without building it. */
function encodeValues(values: readonly number[]): Uint8Array {
  const mapping = (keyMapping ??= newSketch().mapping);
  const positive: number[] = [];
  const negative: number[] = [];
  let zeros = 0;
  for (const v of values) {
    if (v > mapping.minPossible) positive.push(mapping.key(v));
    else if (v < -mapping.minPossible) negative.push(mapping.key(-v));
    else zeros++;
  }
  const out: number[] = [SKETCH_FORMAT];
  writeVarint(out, zeros);
  writeKeys(out, positive);
  writeKeys(out, negative);
  return Uint8Array.from(out);
}

let keyMapping: DDSketch["mapping"] | undefined;

/** One store of `encodeSketch` from its keys (one per value, any order). */
function writeKeys(out: number[], keys: number[]): void {
  keys.sort((a, b) => a - b);
  let entries = 0;
  for (let i = 0; i < keys.length; i++) if (i === 0 || keys[i] !== keys[i - 1]) entries++;
  writeVarint(out, entries);
  let previous = 0;
  for (let i = 0; i < keys.length;) {
    const key = keys[i];
    let n = 0;
    while (i < keys.length && keys[i] === key) {
      n++;
      i++;
    }
    const delta = key - previous;
    writeVarint(out, delta >= 0 ? delta * 2 : -delta * 2 - 1);
    writeVarint(out, n);
    previous = key;
  }
}

function readStore(bytes: Uint8Array, cursor: { at: number }, store: Store): void {
  const entries = readVarint(bytes, cursor);
  let key = 0;
  for (let i = 0; i < entries; i++) {
    const z = readVarint(bytes, cursor);
    key += z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    store.add(key, readVarint(bytes, cursor));
  }
}

function writeVarint(out: number[], n: number): void {
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

function readVarint(bytes: Uint8Array, cursor: { at: number }): number {
  let n = 0;
  let scale = 1;
  for (;;) {
    if (cursor.at >= bytes.length) throw new Error("truncated sketch");
    const b = bytes[cursor.at++];
    n += (b & 0x7f) * scale;
    if (b < 0x80) return n;
    scale *= 0x80;
  }
}
