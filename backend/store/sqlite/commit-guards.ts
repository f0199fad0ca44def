/**
 * The guard statements a commit starts with (`SqlStatement.expectRows`): the API keys it is made
 * for are still active, and the idempotency predictions of its records still hold. A guard that
 * fails rolls the whole commit back before anything of it is written.
 */
import type { IdempotencyRecord, KeyGuard } from "../store.ts";
import { isCanonicalUuid } from "./event-encoding.ts";
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
 * A guard that holds while the predictions behind every record of `predicted` hold (see
 * `IdempotencyRecord`): none of their keys has an unexpired record, none of their ids is stored.
 * One SQL text for any number of records. Records count as unexpired at the earliest `createdAt`
 * of the batch, which can only make the guard fail more often, never hold wrongly.
 */
export function predictionsGuard(predicted: readonly IdempotencyRecord[]): SqlStatement {
  let now = Infinity;
  const keys: string[][] = [];
  const ids: (string | null)[][] = [];
  for (const r of predicted) {
    now = Math.min(now, r.createdAt);
    keys.push([r.keyId, r.idemKey]);
    ids.push(...storedIds(r.predictedNewIds ?? []));
  }
  return {
    sql: "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM idempotency_records WHERE (key_id, idem_key) IN" +
      " (SELECT value ->> 0, value ->> 1 FROM json_each(?)) AND expires_at > ?) AND NOT EXISTS" +
      " (SELECT 1 FROM event_ids WHERE id IN (SELECT coalesce(unhex(value ->> 0, '-'), value ->> 1)" +
      " FROM json_each(?)))",
    args: [JSON.stringify(keys), now, JSON.stringify(ids)],
    expectRows: 1,
  };
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
  return ids.map((id) => (isCanonicalUuid(id) ? [id, null] : [null, id]));
}
