/**
 * An in-memory, least-recently-used cache of the scalar rollup columns, so
 * metric queries over hot ranges (a day of minutes for many devices) do not
 * read and convert 100,000s of rows each time. Entries are chunks of 1,440
 * consecutive buckets of one series (a day of minutes, 60 days of hours),
 * kept as typed arrays. The store updates cached chunks in place when it
 * applies a rollup flush, and drops a load that raced with a flush (the
 * generation counter), so the cache never serves a stale bucket.
 */
import { type AggState, SCALAR_FIELDS, type ScalarField } from "../../stream/aggregate.ts";

export const CHUNK_SLOTS = 1440;
/**
 * One chunk: per field, one value per slot. A slot without a bucket has count, valueCount and sum
 * 0 and NaN elsewhere, like a slot whose events had no value: the empty state of a scalar
 * accumulator, so `readRollupSlots` copies chunks as they are.
 */
export type Chunk = Record<ScalarField, Float64Array>;
const CHUNK_BYTES = SCALAR_FIELDS.length * CHUNK_SLOTS * 8;
const ZERO_WHEN_EMPTY = new Set<ScalarField>(["count", "valueCount", "sum"]);

export class RollupColumnCache {
  #chunks = new Map<string, Chunk>();
  readonly #maxChunks: number;
  /** Bumped by every applied flush; a load started under an older generation is not cached. */
  generation = 0;

  constructor(maxBytes: number) {
    this.#maxChunks = Math.max(0, Math.floor(maxBytes / CHUNK_BYTES));
  }

  static key(eventType: string, resolution: number, deviceId: string, chunkStart: number): string {
    return `${eventType}\u0000${resolution}\u0000${deviceId}\u0000${chunkStart}`;
  }

  static chunkStart(start: number, resolution: number): number {
    const span = CHUNK_SLOTS * resolution;
    return start - (((start % span) + span) % span);
  }

  /** A shared chunk with no buckets (most chunks of a long, sparse range); never mutated. */
  static readonly EMPTY: Chunk = RollupColumnCache.emptyChunk();

  static emptyChunk(): Chunk {
    const chunk = {} as Chunk;
    for (const f of SCALAR_FIELDS) {
      chunk[f] = new Float64Array(CHUNK_SLOTS).fill(ZERO_WHEN_EMPTY.has(f) ? 0 : NaN);
    }
    return chunk;
  }

  static setSlot(chunk: Chunk, slot: number, s: AggState): void {
    chunk.count[slot] = s.count;
    chunk.valueCount[slot] = s.valueCount;
    chunk.sum[slot] = s.sum;
    chunk.min[slot] = s.min ?? NaN;
    chunk.max[slot] = s.max ?? NaN;
    chunk.lastValue[slot] = s.lastValue ?? NaN;
    chunk.lastTs[slot] = s.lastTs ?? NaN;
    chunk.lastSeq[slot] = s.lastSeq ?? NaN;
  }

  get(key: string): Chunk | undefined {
    const chunk = this.#chunks.get(key);
    if (chunk) {
      this.#chunks.delete(key);
      this.#chunks.set(key, chunk);
    }
    return chunk;
  }

  put(key: string, chunk: Chunk, loadedAtGeneration: number): void {
    if (loadedAtGeneration !== this.generation || this.#maxChunks === 0) return;
    this.#chunks.set(key, chunk);
    while (this.#chunks.size > this.#maxChunks) this.#chunks.delete(this.#chunks.keys().next().value!);
  }

  /** Applies a merged bucket to its chunk, if cached. */
  update(eventType: string, resolution: number, deviceId: string, start: number, state: AggState): void {
    const chunkStart = RollupColumnCache.chunkStart(start, resolution);
    const key = RollupColumnCache.key(eventType, resolution, deviceId, chunkStart);
    let chunk = this.#chunks.get(key);
    if (!chunk) return;
    if (chunk === RollupColumnCache.EMPTY) this.#chunks.set(key, chunk = RollupColumnCache.emptyChunk());
    RollupColumnCache.setSlot(chunk, (start - chunkStart) / resolution, state);
  }

  clear(): void {
    this.#chunks.clear();
    this.generation++;
  }
}
