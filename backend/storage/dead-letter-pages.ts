/**
 * Walks the dead letters a page at a time, oldest first, so that a caller
 * never holds more than one page in memory however many there are.
 */
import type { DeadLetter, DeadLetterStore } from "../store/storage-store.ts";

/** Dead letters read per page. */
export const DEAD_LETTER_PAGE = 500;

/** The dead letters matching `query` (one kind, only pending ones), oldest first, page by page. */
export async function* deadLetterPages(
  store: DeadLetterStore,
  query: { kind?: string; pending?: boolean },
  pageSize = DEAD_LETTER_PAGE,
): AsyncGenerator<DeadLetter[]> {
  let afterId: number | undefined;
  for (;;) {
    const page = await store.list({ ...query, afterId, order: "asc", limit: pageSize });
    if (page.length > 0) yield page;
    if (page.length < pageSize) return;
    afterId = page[page.length - 1].id;
  }
}
