/**
 * The narrow SQL surface the SQLite store needs, so that the store is written
 * once and runs on whichever driver the runtime has: `node:sqlite` (Deno,
 * Node >= 22.5) or `@libsql/client` (Node 20, remote libSQL). Implementations
 * live in `backend/adapters/sqlite/`.
 *
 * Implementations reuse prepared statements across calls and throw
 * `StoreUnavailableError` (with the driver error as `cause`) on any failure.
 */

/** Values bound to `?` placeholders (Uint8Array: BLOB). Drivers return BLOBs as Uint8Array. */
export type SqlValue = string | number | null | Uint8Array;

/** One statement with its arguments. */
export interface SqlStatement {
  sql: string;
  args: SqlValue[];
  /**
   * Makes the statement a guard: it is run as a query, and unless it returns exactly this many
   * rows the whole transaction is rolled back and `writeBatch` rejects with `GuardFailedError`.
   */
  expectRows?: number;
  /**
   * Makes the statement a guard on its effect: it runs as usual (its changes are reported), and
   * unless it changed exactly this many rows the whole transaction is rolled back and
   * `writeBatch` rejects with `GuardFailedError`.
   */
  expectChanges?: number;
  /**
   * Collects what the statement returns: its SQL ends in `RETURNING` one numeric column, and the
   * driver pushes that column of every returned row into this array (its change count is the
   * number of rows). An `INSERT … ON CONFLICT DO NOTHING RETURNING` tells which rows went in.
   */
  returning?: number[];
}

/** `writeBatch` rolled back because the guard at index `statement` did not hold. */
export class GuardFailedError extends Error {
  static readonly CODE = "PS_GUARD_FAILED";
  readonly code = GuardFailedError.CODE;
  constructor(readonly statement: number) {
    super(`guard statement ${statement} did not hold`);
  }
}

export interface SqlDriver {
  /** e.g. `node:sqlite` or `@libsql/client`. */
  readonly name: string;
  /** Whether the database is a local file (so pragmas and file sizes apply). */
  readonly local: boolean;
  /**
   * How many `writeBatch` calls may be in flight at once, committed in call order (default 1:
   * a caller that needs that order waits for each before the next).
   */
  readonly orderedWritesInFlight?: number;
  /**
   * Runs one or more statements without arguments (DDL, pragmas), each to its end: every row a
   * statement returns is stepped through (`PRAGMA incremental_vacuum(N)` frees a page per row).
   */
  exec(sql: string): Promise<void>;
  /** Rows of a query, as plain objects keyed by column name. */
  all<T>(sql: string, args?: SqlValue[]): Promise<T[]>;
  /**
   * Runs `statements` in one write transaction and resolves with the number of
   * rows each changed, in order (0 for an `expectRows` guard). All or nothing: on error, or when a
   * guard (`expectRows`, `expectChanges`) does not hold (`GuardFailedError`), nothing is committed.
   */
  writeBatch(statements: readonly SqlStatement[]): Promise<number[]>;
  close(): Promise<void>;
}
