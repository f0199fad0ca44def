/**
 * Faults and timing hooks injected at the `SqlDriver` boundary, under the real
 * SQLite store (nothing of the store is replaced): a broken disk for rollup
 * writes, a crash in the middle of a drop, a read that waits for something
 * else to happen first. Also rows written the way another schema version would
 * have written them.
 */
import { StoreUnavailableError } from "../errors.ts";
import { DAY_MS, partitionTable } from "../store/sqlite/event-partitions.ts";
import type { SqlDriver, SqlStatement } from "../store/sqlite/sql-driver.ts";

export interface DriverHooks {
  /** Runs (and is awaited) before a read; e.g. drops a partition in between. */
  beforeRead?: (sql: string) => Promise<void> | void;
  /** An error to fail a write transaction with (nothing of it is committed), or null to run it. */
  failWrite?: (statements: readonly SqlStatement[]) => Error | null;
  /** Told of each committed write transaction and the rows each statement changed. */
  afterWrite?: (statements: readonly SqlStatement[], changes: number[]) => void;
}

/** `driver` with `hooks` around its reads and writes. */
export function hookedDriver(driver: SqlDriver, hooks: DriverHooks): SqlDriver {
  return {
    name: driver.name,
    local: driver.local,
    exec: (sql) => driver.exec(sql),
    async all(sql, args) {
      await hooks.beforeRead?.(sql);
      return driver.all(sql, args);
    },
    async writeBatch(statements) {
      const error = hooks.failWrite?.(statements) ?? null;
      if (error) throw error;
      const changes = await driver.writeBatch(statements);
      hooks.afterWrite?.(statements, changes);
      return changes;
    },
    close: () => driver.close(),
  };
}

/** While `faults.failing`, every transaction that writes the rollups table fails as a broken disk would. */
export function failingRollupWrites(driver: SqlDriver) {
  const faults = { failing: false, refused: 0 };
  const wrapped = hookedDriver(driver, {
    failWrite(statements) {
      if (!faults.failing || !statements.some((s) => /INTO rollups/.test(s.sql))) return null;
      faults.refused++;
      return new StoreUnavailableError("writeBatch", { cause: new Error("injected: rollup write failed") });
    },
  });
  return { wrapped, faults };
}

/**
 * Writes event `id` with `seq` at `ts` (device `dev-9`, type `power`) whose value is the text
 * `12,5 kW`, as a row of another schema version could be: the restart replay cannot decode it.
 * `repairUndecodableRow` then sets its value to 12.5.
 */
export async function writeUndecodableRow(driver: SqlDriver, row: { id: string; seq: number; ts: number }) {
  const day = Math.floor(row.ts / DAY_MS);
  await driver.writeBatch([
    { sql: "INSERT INTO event_ids (id, day, seq) VALUES (?, ?, ?)", args: [row.id, day, row.seq] },
    {
      sql: `INSERT INTO ${partitionTable(day)} (seq, ms, device, type, value, lag, partition, id)
              VALUES (?, ?, CAST('dev-9' AS BLOB), CAST('power' AS BLOB), '12,5 kW', 0, 1, ?)`,
      args: [row.seq, row.ts - day * DAY_MS, row.id],
    },
  ]);
}

/** Sets the value of the row `writeUndecodableRow` wrote to 12.5 (what a migration would do). */
export async function repairUndecodableRow(driver: SqlDriver, row: { seq: number; ts: number }) {
  await driver.writeBatch([{
    sql: `UPDATE ${partitionTable(Math.floor(row.ts / DAY_MS))} SET value = 12.5 WHERE seq = ?`,
    args: [row.seq],
  }]);
}
