/**
 * The guard statements a commit starts with (`SqlStatement.expectRows`): the API keys it is made
 * for are still active, and the idempotency predictions of its records still hold. A guard that
 * fails rolls the whole commit back before anything of it is written.
 */
import type { IdempotencyRecord, KeyGuard } from "../store.ts";
import { isCanonicalUuid } from "./event-encoding.ts";
import { chunks } from "./event-partitions.ts";
import type { SqlStatement, SqlValue } from "./sql-driver.ts";

/** A guard that holds while every key of `keys` is active (see `Store.commitEvents`). */
export function activeKeysGuard(keys: KeyGuard): SqlStatement {
  const ids = [...new Set(keys.ids)];
  return {
    // One SQL text whatever the number of keys, so one prepared statement.
    sql: "SELECT id FROM api_keys WHERE id IN (SELECT value FROM json_each(?)) AND revoked_at IS NULL" +
      " AND (expires_at IS NULL OR expires_at > ?)",
    args: [JSON.stringify(ids), keys.now],
    expectRows: ids.length,
  };
}

/** What a guard statement of a commit protects, besides the index of one record. */
export const KEYS_GUARD = -1;
export const SOME_RECORD_GUARD = -2;

/**
 * The claims of `events` in power-of-two chunks, in input order, each chunk either all of ids in
 * `predicted` (a claim that must succeed for every row: run with `expectChanges`) or none.
 */
export function claimChunks(
  events: readonly { id: string }[],
  predicted: ReadonlySet<string>,
): [number, number][] {
  if (predicted.size === 0) return chunks(0, events.length);
  const out: [number, number][] = [];
  let from = 0;
  while (from < events.length) {
    const kind = predicted.has(events[from].id);
    let to = from + 1;
    while (to < events.length && predicted.has(events[to].id) === kind) to++;
    out.push(...chunks(from, to - from));
    from = to;
  }
  return out;
}

/**
 * Which of `predicted` have a stale prediction (column `i`: the index in `predicted`), each at its
 * own `createdAt`: asked after a `predictionsGuard` over several records failed.
 */
export const staleRecordsQuery = {
  sql: "SELECT j.key AS i FROM json_each(?) AS j WHERE EXISTS (SELECT 1 FROM idempotency_records" +
    " WHERE key_id = j.value ->> 0 AND idem_key = j.value ->> 1 AND expires_at > j.value ->> 2) OR EXISTS" +
    " (SELECT 1 FROM event_ids WHERE id IN (SELECT coalesce(unhex(n.value ->> 0, '-'), n.value ->> 1)" +
    " FROM json_each(j.value -> 3) AS n)) ORDER BY j.key",
  args: (predicted: readonly IdempotencyRecord[]): SqlValue[] => [
    JSON.stringify(
      predicted.map((r) => [r.keyId, r.idemKey, r.createdAt, storedIds(r.predictedNewIds ?? [])]),
    ),
  ],
};

/** Ids in their stored form (`ID_SQL`): each as [uuid text or null, other text or null]. */
function storedIds(ids: readonly string[]): (string | null)[][] {
  return ids.map(storedId);
}

function storedId(id: string): (string | null)[] {
  return isCanonicalUuid(id) ? [id, null] : [null, id];
}
