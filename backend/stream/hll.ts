/**
 * HyperLogLog distinct counter (Flajolet et al. 2007, with the small-range
 * linear-counting correction of Heule et al. 2013) for "distinct devices".
 *
 * Hand-written on purpose: no maintained npm package offers a mergeable,
 * serialisable HLL (bloom-filters' one renders every hash as a binary string
 * and misranks; hyperloglog-lite needs a native addon). This one is small:
 * 2^12 registers (standard error 1.04/sqrt(4096) = 1.6%), a 32-bit
 * murmur3-finalised FNV-1a hash, register-wise max to merge, and a compact
 * encoding that stores only non-empty registers while that is smaller.
 */

const P = 12;
const M = 1 << P;
const ALPHA = 0.7213 / (1 + 1.079 / M);
const FORMAT_SPARSE = 1;
const FORMAT_DENSE = 2;

/** 32-bit hash of a string: FNV-1a over UTF-16 code units, then murmur3's fmix32 for avalanche. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class HyperLogLog {
  readonly registers: Uint8Array;

  constructor(registers?: Uint8Array) {
    this.registers = registers ?? new Uint8Array(M);
  }

  /** Adds an element by its `hash32`. */
  addHash(hash: number): void {
    const index = hash >>> (32 - P);
    const rest = (hash << P) >>> 0;
    // Rank: position of the first 1-bit in the remaining 20 bits (21 if they are all zero).
    const rank = rest === 0 ? 32 - P + 1 : Math.clz32(rest) + 1;
    if (rank > this.registers[index]) this.registers[index] = rank;
  }

  add(text: string): void {
    this.addHash(hash32(text));
  }

  merge(other: HyperLogLog): void {
    const a = this.registers;
    const b = other.registers;
    for (let i = 0; i < M; i++) if (b[i] > a[i]) a[i] = b[i];
  }

  clone(): HyperLogLog {
    return new HyperLogLog(this.registers.slice());
  }

  /** Estimated number of distinct elements added. */
  count(): number {
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < M; i++) {
      const r = this.registers[i];
      sum += 2 ** -r;
      if (r === 0) zeros++;
    }
    const raw = (ALPHA * M * M) / sum;
    if (raw <= 2.5 * M && zeros > 0) return Math.round(M * Math.log(M / zeros));
    return Math.round(raw);
  }

  /** Sparse (index u16, rank u8 per non-empty register) or dense (all registers), whichever is smaller. */
  encode(): Uint8Array {
    let filled = 0;
    for (let i = 0; i < M; i++) if (this.registers[i] !== 0) filled++;
    if (filled * 3 < M) {
      const out = new Uint8Array(1 + filled * 3);
      out[0] = FORMAT_SPARSE;
      let o = 1;
      for (let i = 0; i < M; i++) {
        const r = this.registers[i];
        if (r === 0) continue;
        out[o++] = i >>> 8;
        out[o++] = i & 0xff;
        out[o++] = r;
      }
      return out;
    }
    const out = new Uint8Array(1 + M);
    out[0] = FORMAT_DENSE;
    out.set(this.registers, 1);
    return out;
  }

  static decode(bytes: Uint8Array): HyperLogLog {
    if (bytes[0] === FORMAT_DENSE && bytes.length === 1 + M) return new HyperLogLog(bytes.slice(1));
    if (bytes[0] !== FORMAT_SPARSE || (bytes.length - 1) % 3 !== 0) {
      throw new Error("not an encoded HyperLogLog");
    }
    const registers = new Uint8Array(M);
    for (let o = 1; o < bytes.length; o += 3) registers[(bytes[o] << 8) | bytes[o + 1]] = bytes[o + 2];
    return new HyperLogLog(registers);
  }
}
