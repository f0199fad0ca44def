/**
 * A seeded uniform random source in [0, 1), for tests and benchmarks that must
 * repeat the same "random" data (property tests, sketch accuracy, simulated
 * traffic): the same seed gives the same sequence on every runtime.
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
}
