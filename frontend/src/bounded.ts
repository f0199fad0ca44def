/**
 * Runs `fn` over `items` with at most `limit` calls in flight, so that a page
 * fetching one resource per item (e.g. the devices page's latest values per
 * event type) neither goes one by one nor opens hundreds of requests at once.
 * Results come in the order of `items`. The first failure rejects the whole
 * call, and no further calls are started after it.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  await Promise.all(workers);
  return results;
}
