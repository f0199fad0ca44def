/**
 * The writer side of `node-sqlite-worker-driver.ts`, run in a Web Worker: owns
 * the only write connection to the file and runs each `write` message as one
 * transaction, answering only after COMMIT returned (so an acknowledgement
 * still means durable).
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { SqlStatement } from "../../store/sqlite/sql-driver.ts";
import type { WriterReply, WriterRequest } from "./writer-protocol.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<WriterRequest>) => void) | null;
  postMessage(message: WriterReply): void;
  close(): void;
};

let db: DatabaseSync | null = null;
const statements = new Map<string, StatementSync>();

function prepared(sql: string): StatementSync {
  let stmt = statements.get(sql);
  if (!stmt) {
    stmt = db!.prepare(sql);
    statements.set(sql, stmt);
  }
  return stmt;
}

function writeBatch(batch: readonly SqlStatement[]): number[] {
  db!.exec("BEGIN IMMEDIATE");
  try {
    const changes = batch.map((s) => Number(prepared(s.sql).run(...s.args).changes));
    db!.exec("COMMIT");
    return changes;
  } catch (error) {
    if (db!.isTransaction) db!.exec("ROLLBACK");
    throw error;
  }
}

scope.onmessage = ({ data: request }) => {
  try {
    let result: number[] | null = null;
    if (request.op === "open") {
      db = new DatabaseSync(request.path);
      db.exec(request.pragmas);
    } else if (request.op === "exec") {
      db!.exec(request.sql);
    } else if (request.op === "write") {
      result = writeBatch(request.statements);
    } else if (request.op === "close") {
      if (db?.isOpen) db.close();
    }
    scope.postMessage({ id: request.id, ok: true, result });
    if (request.op === "close") scope.close();
  } catch (error) {
    const e = error as { message?: string; code?: string };
    scope.postMessage({ id: request.id, ok: false, message: String(e?.message ?? error), code: e?.code });
  }
};
