import { describe, expect, it } from "vitest";
import { DDSketch } from "@datadog/sketches-js";
import { Agg, decodeSketch, encodeSketch, mergeStates, SKETCH_RELATIVE_ACCURACY } from "./aggregate.ts";
import { hash32, HyperLogLog } from "./hll.ts";
import { windowValues } from "./windows.ts";
import { AGGREGATES } from "../../shared/aggregates.ts";
import { seededRandom } from "../testing/seeded-random.ts";

/** The value DDSketch approximates for quantile q: the sorted element at rank floor(q * (n - 1)). */
function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))];
}

describe("Agg", () => {
  it("computes count, sum, min, max, avg and last by (timestamp, seq)", () => {
    const a = new Agg();
    a.add(5, 1000, 1);
    a.add(null, 4000, 2);
    a.add(-2, 3000, 3);
    a.add(7, 3000, 4);
    a.add(1, 2000, 5);
    expect(a.value("count")).toBe(5);
    expect(a.value("sum")).toBe(11);
    expect(a.value("min")).toBe(-2);
    expect(a.value("max")).toBe(7);
    expect(a.value("avg")).toBe(11 / 4);
    expect(a.value("last")).toBe(7); // ts 3000 ties; seq 4 is later than seq 3
    expect([a.minTs, a.maxTs]).toEqual([1000, 4000]);
  });

  it("answers every aggregate of the shared list (shared/aggregates.ts), in its order", () => {
    const a = new Agg();
    for (let v = 1; v <= 100; v++) a.add(v, v * 1000, v);
    a.addDevice(hash32("d1"));
    a.addDevice(hash32("d2"));
    const values = windowValues(a);
    expect(Object.keys(values)).toEqual([...AGGREGATES]);
    expect(values).toMatchObject({
      avg: 50.5,
      min: 1,
      max: 100,
      sum: 5050,
      count: 100,
      last: 100,
      distinct: 2,
    });
    for (const [q, exact] of [["p50", 50], ["p90", 90], ["p95", 95], ["p99", 99]] as const) {
      expect(Math.abs(values[q]! - exact) / exact).toBeLessThanOrEqual(0.01);
    }
  });

  it("answers null for value aggregates of a window without values", () => {
    const a = new Agg();
    a.add(null, 1, 1);
    expect(a.value("count")).toBe(1);
    for (const name of ["sum", "min", "max", "avg", "last", "p50", "p99"] as const) {
      expect(a.value(name)).toBeNull();
    }
  });

  it("keeps quantiles within 1% relative error, also after merging and a store round trip", () => {
    const random = seededRandom(7);
    const values = Array.from({ length: 20_000 }, () => (random() - 0.3) * 1000 * random());
    const parts = [new Agg(), new Agg(), new Agg()];
    values.forEach((v, i) => parts[i % 3].add(v, i, i));
    const merged = new Agg();
    for (const p of parts) merged.merge(p);
    const restored = Agg.fromState(
      mergeStates(parts[0].toState(), mergeStates(parts[1].toState(), parts[2].toState())),
    );
    for (const [name, q] of [["p50", 0.5], ["p90", 0.9], ["p95", 0.95], ["p99", 0.99]] as const) {
      const exact = exactQuantile(values, q);
      for (const agg of [merged, restored]) {
        expect(Math.abs(agg.value(name)! - exact)).toBeLessThanOrEqual(Math.abs(exact) * 0.01 + 1e-9);
      }
    }
    expect(restored.value("count")).toBe(values.length);
    expect(restored.value("min")).toBe(Math.min(...values));
    expect(restored.value("max")).toBe(Math.max(...values));
  });

  it("merges negative values too (the library's merge drops them; ours must not)", () => {
    const a = new Agg();
    const b = new Agg();
    a.add(10, 1, 1);
    for (let i = 1; i <= 99; i++) b.add(-i, i + 1, i + 1);
    a.merge(b);
    // 100 values: -99..-1 and 10; the median is at rank 49 → -50.
    expect(a.value("p50")).toBeCloseTo(-50, 0);
    expect(Math.abs(a.value("p50")! + 50)).toBeLessThanOrEqual(0.5);
  });

  it("encodes sketches compactly and exactly (zero, negative and positive bins)", () => {
    const a = new Agg();
    for (const v of [0, 0, -3.5, 2, 2, 1e6, 1e-3]) a.add(v, 1, 1);
    const bytes = encodeSketch(a.sketch!);
    expect(bytes.length).toBeLessThan(40);
    const back = decodeSketch(bytes);
    expect(back.count).toBe(7);
    expect(back.zeroCount).toBe(2);
    for (const q of [0, 0.2, 0.5, 0.8, 1]) {
      expect(back.getValueAtQuantile(q)).toBe(a.sketch!.getValueAtQuantile(q));
    }
  });
});

describe("Agg value list (few values, no sketch yet)", () => {
  /** The encoded sketch and quantiles of a DDSketch that accepted `values` one by one. */
  function reference(values: number[]) {
    const s = new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
    for (const v of values) s.accept(v);
    // The library's merge skips the negative store; a sketch built by accept has it.
    return { bytes: encodeSketch(s), p: [0, 0.5, 0.9, 0.99, 1].map((q) => s.getValueAtQuantile(q)) };
  }
  const random = seededRandom(7);
  const draw = (n: number) =>
    Array.from({ length: n }, (_, i) => {
      const r = random();
      return i % 7 === 0 ? 0 : r < 0.3 ? -Math.round(r * 1e4) / 100 : Math.round(r * 1e6) / 100;
    });

  it.each([1, 3, 16, 17, 40])("encodes %i values byte for byte as their sketch", (n) => {
    const values = draw(n);
    const a = new Agg();
    values.forEach((v, i) => a.add(v, i, i));
    const ref = reference(values);
    expect(a.toState().sketch).toEqual(ref.bytes);
    for (const [k, q] of [0, 0.5, 0.9, 0.99, 1].entries()) {
      expect(a.sketch!.getValueAtQuantile(q)).toBe(ref.p[k]);
    }
  });

  it.each([[2, 3], [10, 10], [3, 30], [30, 3], [20, 20]])(
    "merges lists and sketches (%i + %i values) exactly",
    (na, nb) => {
      const va = draw(na);
      const vb = draw(nb);
      for (const build of ["list+list", "sketch+list", "list+sketch"]) {
        const a = new Agg();
        const b = new Agg();
        va.forEach((v, i) => a.add(v, i, i));
        vb.forEach((v, i) => b.add(v, i, i));
        if (build === "sketch+list") void a.sketch;
        if (build === "list+sketch") void b.sketch;
        a.merge(b);
        expect(a.toState().sketch).toEqual(reference([...va, ...vb]).bytes);
        // The merged-from aggregate is unchanged.
        expect(b.toState().sketch).toEqual(reference(vb).bytes);
      }
    },
  );

  it("merges stored states in their encoded form as a merge of decoded sketches would", () => {
    const cases: [number[], number[]][] = [[[], draw(5)], [draw(5), []], [draw(30), draw(3)], [
      draw(2),
      draw(40),
    ]];
    for (const [va, vb] of cases) {
      const a = new Agg();
      const b = new Agg();
      va.forEach((v, i) => a.add(v, i, i));
      vb.forEach((v, i) => b.add(v, 100 + i, 100 + i));
      b.add(null, 500, 500);
      const decoded = Agg.fromState(a.toState());
      decoded.merge(Agg.fromState(b.toState()));
      expect(mergeStates(a.toState(), b.toState())).toEqual(decoded.toState());
      expect(mergeStates(a.toState(), b.toState()).sketch).toEqual(reference([...va, ...vb]).bytes);
    }
  });

  it("keeps no sketch for events without values", () => {
    const a = new Agg();
    a.add(null, 1, 1);
    const b = new Agg();
    b.merge(a);
    expect(b.toState().sketch).toBeNull();
    expect(b.value("p50")).toBeNull();
  });
});

describe("HyperLogLog", () => {
  it.each([1, 10, 1000, 50_000])("estimates %i distinct devices within 5%", (n) => {
    const h = new HyperLogLog();
    for (let i = 0; i < n; i++) {
      h.add(`device-${i}`);
      h.add(`device-${i}`); // repeats change nothing
    }
    expect(Math.abs(h.count() - n)).toBeLessThanOrEqual(Math.max(1, n * 0.05));
  });

  it("merges as a union and survives sparse and dense encodings", () => {
    const a = new HyperLogLog();
    const b = new HyperLogLog();
    for (let i = 0; i < 300; i++) a.add(`d${i}`);
    for (let i = 200; i < 5000; i++) b.add(`d${i}`);
    const sparse = a.encode();
    expect(sparse[0]).toBe(1);
    expect(sparse.length).toBeLessThan(1000);
    const dense = b.encode();
    expect(dense[0]).toBe(2);
    const union = HyperLogLog.decode(sparse);
    union.merge(HyperLogLog.decode(dense));
    expect(Math.abs(union.count() - 5000)).toBeLessThanOrEqual(250);
    expect(HyperLogLog.decode(sparse).registers).toEqual(a.registers);
  });

  it("refuses bytes that are not an encoded HyperLogLog", () => {
    expect(() => HyperLogLog.decode(new Uint8Array([9, 1, 2]))).toThrow("not an encoded HyperLogLog");
  });
});
