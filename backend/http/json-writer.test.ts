/**
 * The JSON chunk writer against `JSON.stringify`: every number shape a metric
 * answer holds (counts, short decimals, averages of 16 and 17 digits, tiny and
 * huge values, NaN, ±Infinity, -0) must come out as the same text, and text
 * split across chunks must come out whole.
 */
import { describe, expect, it } from "vitest";
import { JsonChunkWriter } from "./json-writer.ts";

const decoder = new TextDecoder();
const joined = (chunks: Uint8Array[]) =>
  chunks.map((c) => decoder.decode(c, { stream: true })).join("") +
  decoder.decode();

/** A seeded xorshift generator in [0, 1): the same values on every run. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** Values of every shape, `n` of them. */
function sample(n: number, seed: number): number[] {
  const r = random(seed);
  const bits = new Float64Array(1);
  const words = new Uint32Array(bits.buffer);
  const shapes: (() => number)[] = [
    () => Math.floor(r() * 1000), // counts
    () => Math.floor(r() * 2 ** 53) * (r() < 0.5 ? -1 : 1), // large integers
    () => Math.round(r() * 1e6) / 10 ** Math.floor(r() * 8), // short decimals
    () => 15 + Math.floor(r() * 200) / 10, // one decimal, like sensor readings
    () => {
      // an average of a few readings: mostly 16 or 17 significant digits
      const k = 2 + Math.floor(r() * 8);
      let sum = 0;
      for (let i = 0; i < k; i++) sum += 15 + Math.floor(r() * 200) / 10;
      return sum / k;
    },
    () => (r() - 0.5) * 10 ** Math.floor(r() * 44 - 22), // every magnitude, both signs
    () => {
      // any double at all (NaN and ±Infinity included)
      words[0] = r() * 4294967296;
      words[1] = r() * 4294967296;
      return bits[0];
    },
    () => r() * 1e-5, // below 1e-6 written with an exponent
    () => Number((r() * 1e4).toFixed(Math.floor(r() * 17))), // 0 to 16 decimals
    () => r() * 1e15, // near the end of the formatted range
  ];
  return Array.from({ length: n }, (_, i) => shapes[i % shapes.length]());
}

const EDGES = [
  0,
  -0,
  NaN,
  Infinity,
  -Infinity,
  1,
  -1,
  0.1,
  0.2 + 0.1,
  1 / 3,
  2 / 3,
  1e-6,
  1e-7,
  0.000001234,
  9.999999999999999e-7,
  999999999999999,
  999999999999999.9,
  1e15,
  1e15 + 0.5,
  123456789012345.6,
  499746569670668.56,
  1e21,
  1e-324,
  5e-324,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.MAX_SAFE_INTEGER,
  2147483647,
  2147483648,
  4294967296.5,
  15.299999999999999,
  15.3,
  33.75,
  -5,
];

describe("JsonChunkWriter", () => {
  it("writes numbers exactly as JSON.stringify does, for every shape", () => {
    const values = [...EDGES, ...sample(200_000, 42)];
    const typed = new JsonChunkWriter();
    typed.numbers(Float64Array.from(values));
    const plain = new JsonChunkWriter({ chunkBytes: 4096 });
    plain.numbers(values);
    const expected = JSON.stringify(values);
    expect(joined(typed.end())).toBe(expected);
    expect(joined(plain.end())).toBe(expected);
  });

  it("writes single numbers, strings and values as JSON.stringify does", () => {
    const w = new JsonChunkWriter({ chunkBytes: 64 });
    const parts: unknown[] = [];
    for (const v of EDGES) {
      w.number(v).raw(",");
      parts.push(v);
    }
    const texts = ["plain", 'quo"te\\', "ünï©ødé 温度 🌡️", "\u0000\n\t", "\ud800 lone", null, true, {
      a: [1],
    }];
    texts.forEach((t, i) => {
      w.value(t).raw(i === texts.length - 1 ? "" : ",");
      parts.push(t);
    });
    expect(joined(w.end())).toBe(JSON.stringify(parts).slice(1, -1));
  });

  it("splits text into chunks of at most the chunk size, none empty, and keeps every byte", () => {
    const w = new JsonChunkWriter({ chunkBytes: 100 });
    const long = "é".repeat(500) + "x".repeat(333);
    w.raw("[").value(long).raw(",").numbers(sample(5000, 7)).raw("]");
    const taken = w.take();
    expect(taken.length).toBeGreaterThan(10);
    const rest = w.end();
    const chunks = [...taken, ...rest];
    expect(chunks.every((c) => c.length > 0 && c.length <= 100)).toBe(true);
    expect(joined(chunks)).toBe(`[${JSON.stringify(long)},${JSON.stringify(sample(5000, 7))}]`);
    expect(w.end()).toEqual([]);
  });

  it("writes empty arrays", () => {
    const w = new JsonChunkWriter();
    w.numbers([]).raw(",").numbers(new Float64Array(0));
    expect(joined(w.end())).toBe("[],[]");
  });
});
