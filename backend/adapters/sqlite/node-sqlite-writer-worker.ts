/**
 * The writer side of `node-sqlite-worker-driver.ts`, run in a Web Worker: owns
 * the only write connection to the file and runs each `write` message as one
 * transaction, answering only after COMMIT returned (so an acknowledgement
 * still means durable). Requests arrive on the `MessagePort` of the first
 * message, and replies go back on it.
 */
import { DatabaseSync } from "node:sqlite";
import { type NodeSqliteConnection, nodeSqliteConnection } from "./node-sqlite-connection.ts";
import type { WriterReply, WriterRequest } from "./writer-protocol.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<{ port: MessagePort }>) => void) | null;
  close(): void;
};

let db: DatabaseSync | null = null;
let connection: NodeSqliteConnection | null = null;

scope.onmessage = ({ data }) => {
  const port = data.port;
  scope.onmessage = null;
  port.onmessage = ({ data: request }: MessageEvent<WriterRequest>) => handle(port, request);
};

function handle(port: MessagePort, request: WriterRequest): void {
  try {
    let result: number[] | null = null;
    let returned: [number, number[]][] | undefined;
    if (request.op === "open") {
      db = new DatabaseSync(request.path);
      db.exec(request.pragmas);
      connection = nodeSqliteConnection(db);
    } else if (request.op === "exec") {
      connection!.exec(request.sql);
    } else if (request.op === "write") {
      result = connection!.writeBatch(request.statements);
      request.statements.forEach((s, i) => s.returning && (returned ??= []).push([i, s.returning]));
    } else if (request.op === "close") {
      if (db?.isOpen) db.close();
    }
    port.postMessage({ id: request.id, ok: true, result, returned } satisfies WriterReply);
    if (request.op === "close") {
      port.close();
      scope.close();
    }
  } catch (error) {
    const e = error as { message?: string; code?: string; statement?: number };
    port.postMessage(
      {
        id: request.id,
        ok: false,
        message: String(e?.message ?? error),
        code: e?.code,
        statement: e?.statement,
      } satisfies WriterReply,
    );
  }
}
