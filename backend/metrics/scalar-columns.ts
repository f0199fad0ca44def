/**
 * The typed-array side of metric queries: scalar aggregates (count, sum, min,
 * max, avg, last) per step slot without an object per bucket, and fill modes.
 */
import { type AggregateName, SCALAR_FIELDS } from "../stream/aggregate.ts";
import type { FillMode } from "./metrics-query.ts";

/** Scalar aggregates per step slot, as typed arrays (NaN: no valued event). */
export class ScalarColumns {
  declare count: Float64Array;
  declare valueCount: Float64Array;
  declare sum: Float64Array;
  declare min: Float64Array;
  declare max: Float64Array;
  declare lastValue: Float64Array;
  declare lastTs: Float64Array;
  declare lastSeq: Float64Array;

  constructor(readonly length: number) {
    for (const f of SCALAR_FIELDS) {
      this[f] = new Float64Array(length).fill(f === "count" || f === "valueCount" || f === "sum" ? 0 : NaN);
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
    const ts = this.lastTs[i];
    if (Number.isNaN(ts) || lastTs > ts || (lastTs === ts && lastSeq > this.lastSeq[i])) {
      this.lastTs[i] = lastTs;
      this.lastSeq[i] = lastSeq;
      this.lastValue[i] = lastValue;
    }
  }

  /** The values of `name` per slot, null where undefined. */
  column(name: AggregateName): (number | null)[] {
    const out: (number | null)[] = new Array(this.length);
    const { count, valueCount } = this;
    const source = name === "sum" || name === "avg"
      ? this.sum
      : name === "min"
      ? this.min
      : name === "max"
      ? this.max
      : this.lastValue;
    for (let i = 0; i < this.length; i++) {
      if (count[i] === 0) out[i] = null;
      else if (name === "count") out[i] = count[i];
      else if (valueCount[i] === 0) out[i] = null;
      else out[i] = name === "avg" ? source[i] / valueCount[i] : source[i];
    }
    return out;
  }

  /** Slot i of the result merges slots i..i+extra (hopping windows); `extra` 0 returns this. */
  window(extra: number): ScalarColumns {
    if (extra === 0) return this;
    const out = new ScalarColumns(this.length - extra);
    for (let i = 0; i < out.length; i++) {
      for (let j = i; j <= i + extra; j++) {
        out.add(
          i,
          this.count[j],
          this.valueCount[j],
          this.sum[j],
          this.min[j],
          this.max[j],
          this.lastValue[j],
          this.lastTs[j],
          this.lastSeq[j],
        );
      }
    }
    return out;
  }
}

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
