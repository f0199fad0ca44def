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
}

export interface SqlDriver {
  /** e.g. `node:sqlite` or `@libsql/client`. */
  readonly name: string;
  /** Whether the database is a local file (so pragmas and file sizes apply). */
  readonly local: boolean;
  /** Runs one or more statements without arguments (DDL, pragmas). */
  exec(sql: string): Promise<void>;
  /** Rows of a query, as plain objects keyed by column name. */
  all<T>(sql: string, args?: SqlValue[]): Promise<T[]>;
  /**
   * Runs `statements` in one write transaction and resolves with the number of
   * rows each changed, in order. All or nothing: on error nothing is committed.
   */
  writeBatch(statements: readonly SqlStatement[]): Promise<number[]>;
  close(): Promise<void>;
}
