/** Messages between the main thread and the SQLite writer worker. */
import type { SqlStatement } from "../../store/sqlite/sql-driver.ts";

export type WriterRequest =
  | { id: number; op: "open"; path: string; pragmas: string }
  | { id: number; op: "exec"; sql: string }
  | { id: number; op: "write"; statements: readonly SqlStatement[] }
  | { id: number; op: "close" };

export type WriterReply =
  | { id: number; ok: true; result: number[] | null }
  | { id: number; ok: false; message: string; code?: string; statement?: number };
