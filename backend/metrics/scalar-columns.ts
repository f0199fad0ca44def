/**
 * The typed-array side of metric queries: scalar aggregates (count, sum, min,
 * max, avg, last) per step slot without an object per bucket, and fill modes.
 */
import { type AggregateName, SCALAR_FIELDS, type ScalarField } from "../stream/aggregate.ts";
import type { FillMode } from "./metrics-types.ts";

/**
 * Scalar aggregates per step slot, as typed arrays. An empty slot has count, valueCount and sum 0
 * and NaN elsewhere (NaN in min, max and last*: no valued event), like `RollupSlots`. Without the
 * `last` aggregate, `lastValue`, `lastTs` and `lastSeq` may be empty arrays: nothing tracks them.
 */
export class ScalarColumns {
  declare count: Float64Array;
  declare valueCount: Float64Array;
  declare sum: Float64Array;
  declare min: Float64Array;
  declare max: Float64Array;
  declare lastValue: Float64Array;
  declare lastTs: Float64Array;
  declare lastSeq: Float64Array;

  /** Empty slots, or (with `adopt`) these arrays as they are: they become this object's state. */
  constructor(
    readonly length: number,
    options: { adopt?: Readonly<Record<ScalarField, Float64Array>>; last?: boolean } = {},
  ) {
    const { adopt, last = true } = options;
    for (const f of SCALAR_FIELDS) {
      this[f] = adopt
        ? adopt[f]
        : !last && LAST_FIELDS.includes(f)
        ? new Float64Array(0)
        : new Float64Array(length)
          .fill(f === "count" || f === "valueCount" || f === "sum" ? 0 : NaN);
    }
  }

  add(
    i: number,
    count: number,
    valueCount: number,
    sum: number,
    min: number,
    max: number,
    lastValue: number,
    lastTs: number,
    lastSeq: number,
  ): void {
    if (i < 0 || i >= this.length) return;
    this.count[i] += count;
    if (valueCount === 0) return;
    this.valueCount[i] += valueCount;
    this.sum[i] += sum;
    if (!(this.min[i] <= min)) this.min[i] = min;
    if (!(this.max[i] >= max)) this.max[i] = max;
    if (this.lastTs.length === 0) return;
    const ts = this.lastTs[i];
    if (Number.isNaN(ts) || lastTs > ts || (lastTs === ts && lastSeq > this.lastSeq[i])) {
      this.lastTs[i] = lastTs;
      this.lastSeq[i] = lastSeq;
      this.lastValue[i] = lastValue;
    }
  }

  /** Merges slot j of `slots` into slot ⌊j / ratio⌋ (finer stored buckets into step slots). */
  addSlots(slots: Readonly<Record<ScalarField, Float64Array>>, ratio: number): void {
    const { count, valueCount, sum, min, max, lastValue, lastTs, lastSeq } = slots;
    for (let j = 0; j < count.length; j++) {
      if (count[j] === 0) continue;
      this.add(
        Math.floor(j / ratio),
        count[j],
        valueCount[j],
        sum[j],
        min[j],
        max[j],
        lastValue[j] ?? NaN,
        lastTs[j] ?? NaN,
        lastSeq[j] ?? NaN,
      );
    }
  }

  /**
   * The values of `name` per slot with the fill mode applied: NaN where the answer is null (an
   * empty slot, or no valued event for the value aggregates). Written into `into` when it has
   * this length.
   */
  column(name: AggregateName, fill: FillMode, into?: Float64Array): Float64Array {
    const out = into?.length === this.length ? into : new Float64Array(this.length);
    const { count, valueCount } = this;
    const source = name === "sum" || name === "avg"
      ? this.sum
      : name === "min"
      ? this.min
      : name === "max"
      ? this.max
      : this.lastValue;
    const counted = name === "count";
    const empty = fill === "zero" ? 0 : NaN;
    // "previous" repeats the last answered value, even a non-finite one, as `fillColumn` does.
    let previous = NaN;
    for (let i = 0; i < this.length; i++) {
      if (count[i] === 0 || (!counted && valueCount[i] === 0)) {
        out[i] = fill === "previous" ? previous : empty;
        continue;
      }
      const v = counted ? count[i] : name === "avg" ? source[i] / valueCount[i] : source[i];
      out[i] = v;
      previous = v;
    }
    return out;
  }

  /** Slot i of the result merges slots i..i+extra (hopping windows); `extra` 0 returns this. */
  window(extra: number): ScalarColumns {
    if (extra === 0) return this;
    const out = new ScalarColumns(this.length - extra, { last: this.lastTs.length > 0 });
    for (let i = 0; i < out.length; i++) {
      for (let j = i; j <= i + extra; j++) {
        out.add(
          i,
          this.count[j],
          this.valueCount[j],
          this.sum[j],
          this.min[j],
          this.max[j],
          this.lastValue[j] ?? NaN,
          this.lastTs[j] ?? NaN,
          this.lastSeq[j] ?? NaN,
        );
      }
    }
    return out;
  }
}

/** The fields only the `last` aggregate reads. */
export const LAST_FIELDS: readonly ScalarField[] = ["lastValue", "lastTs", "lastSeq"];

/** Applies the fill mode to a column in place. */
export function fillColumn(column: (number | null)[], fill: FillMode): (number | null)[] {
  if (fill === "null") return column;
  let previous: number | null = null;
  for (let i = 0; i < column.length; i++) {
    const v = column[i];
    if (v !== null) previous = v;
    else column[i] = fill === "zero" ? 0 : previous;
  }
  return column;
}

/** A nullable column as a typed one: null becomes NaN. */
export function toTypedColumn(column: readonly (number | null)[]): Float64Array {
  const out = new Float64Array(column.length);
  for (let i = 0; i < column.length; i++) out[i] = column[i] ?? NaN;
  return out;
}

/** A typed column as a nullable one: NaN becomes null (JSON writes both as null). */
export function toNullableColumn(column: Float64Array): (number | null)[] {
  const out: (number | null)[] = new Array(column.length);
  for (let i = 0; i < column.length; i++) out[i] = Number.isNaN(column[i]) ? null : column[i];
  return out;
}
