/**
 * Stable partition of a device: FNV-1a (32 bit) over the UTF-8 bytes of
 * `deviceId`, modulo the partition count. The same device always lands in the
 * same partition, on every runtime and every instance, so per-device order can
 * be kept by processing each partition in order.
 */
export function partitionOf(deviceId: string, partitions: number): number {
  return fnv1a32(deviceId) % partitions;
}

const encoder = new TextEncoder();

/** FNV-1a 32-bit hash of the UTF-8 encoding of `text`, as an unsigned integer. */
export function fnv1a32(text: string): number {
  const bytes = encoder.encode(text);
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i];
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
