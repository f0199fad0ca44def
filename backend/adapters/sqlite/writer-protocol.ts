/** Messages between the main thread and the SQLite writer worker. */
import type { SqlStatement } from "../../store/sqlite/sql-driver.ts";

export type WriterRequest =
  | { id: number; op: "open"; path: string; pragmas: string }
  | { id: number; op: "exec"; sql: string }
  | { id: number; op: "write"; statements: readonly SqlStatement[] }
  | { id: number; op: "close" };

export type WriterReply =
  | {
    id: number;
    ok: true;
    result: number[] | null;
    /** Of a `write`: the `returning` values of its statements that collect them, by statement index. */
    returned?: [number, number[]][];
  }
  | { id: number; ok: false; message: string; code?: string; statement?: number };
