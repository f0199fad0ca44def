/**
 * `SqlDriver` on `node:sqlite` with writes on a Web Worker thread: the writer
 * worker owns the write connection and commits group-commit transactions,
 * while reads (key lookups, event queries) run on a second connection on the
 * calling thread. SQLite I/O of commits thus leaves the thread that parses and
 * validates requests, so on a multi-core machine they overlap
 * (docs/PERFORMANCE.md). WAL mode lets the reader see every committed
 * transaction without blocking the writer.
 *
 * Requests and replies travel over a `MessageChannel` port handed to the worker
 * at start: under Deno, `port.postMessage` costs a third of `worker.postMessage`
 * for the same commit (~30 vs ~90 µs for 30 events, docs/PERFORMANCE.md).
 *
 * Needs the Web `Worker` global and `node:sqlite` (Deno 2). Not for
 * `:memory:` (two connections would be two databases).
 */
import { DatabaseSync } from "node:sqlite";
import { nodeSqliteConnection } from "./node-sqlite-connection.ts";
import { StoreUnavailableError } from "../../errors.ts";
import {
  GuardFailedError,
  type SqlDriver,
  type SqlStatement,
  type SqlValue,
} from "../../store/sqlite/sql-driver.ts";
import { ensureParentDir, sqliteFilePath } from "./file-path.ts";
import { localPragmas, type SqliteOpenOptions } from "./pragmas.ts";
import type { WriterReply, WriterRequest } from "./writer-protocol.ts";

type Pending = {
  resolve: (result: number[] | null, returned?: [number, number[]][]) => void;
  reject: (error: Error) => void;
  operation: string;
};
type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

export async function openNodeSqliteWorkerDriver(
  url: string,
  options: SqliteOpenOptions,
): Promise<SqlDriver> {
  const path = sqliteFilePath(url);
  if (path === ":memory:") throw new Error("the worker driver needs a file database");
  const worker = new Worker(new URL("./node-sqlite-writer-worker.ts", import.meta.url).href, {
    type: "module",
  });
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let failed: Error | null = null;

  const failAll = (error: Error) => {
    failed = error;
    for (const p of pending.values()) p.reject(new StoreUnavailableError(p.operation, { cause: error }));
    pending.clear();
  };
  const channel = new MessageChannel();
  worker.postMessage({ port: channel.port2 }, [channel.port2]);
  const port = channel.port1;
  port.onmessage = ({ data: reply }: MessageEvent<WriterReply>) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.result, reply.returned);
    else if (reply.code === GuardFailedError.CODE) p.reject(new GuardFailedError(reply.statement ?? -1));
    else {
      p.reject(
        new StoreUnavailableError(p.operation, {
          cause: Object.assign(new Error(reply.message), { code: reply.code }),
        }),
      );
    }
  };
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    failAll(new Error(`SQLite writer worker failed: ${event.message}`));
  };

  const call = (
    request: WithoutId<WriterRequest>,
    operation: string,
    onReturned?: (returned: [number, number[]][]) => void,
  ): Promise<number[] | null> => {
    if (failed) return Promise.reject(new StoreUnavailableError(operation, { cause: failed }));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const done = (result: number[] | null, returned?: [number, number[]][]) => {
        if (returned) onReturned?.(returned);
        resolve(result);
      };
      pending.set(id, { resolve: done, reject, operation });
      port.postMessage({ ...request, id } as WriterRequest);
    });
  };

  try {
    ensureParentDir(path);
  } catch (cause) {
    worker.terminate();
    throw new StoreUnavailableError("open", { cause });
  }
  await call({ op: "open", path, pragmas: localPragmas(options) }, "open").catch((error) => {
    worker.terminate();
    throw error;
  });

  let reader: DatabaseSync;
  try {
    reader = new DatabaseSync(path);
    reader.exec(`PRAGMA busy_timeout=5000; PRAGMA cache_size=${-options.cacheMb * 1024}`);
  } catch (cause) {
    worker.terminate();
    throw new StoreUnavailableError("open", { cause });
  }
  const { prepared } = nodeSqliteConnection(reader);
  let closed = false;

  return {
    name: "node:sqlite (writer worker)",
    local: true,
    // One port, one worker running each message to its end: batches commit in the order sent.
    orderedWritesInFlight: 4,
    exec: async (sql) => {
      await call({ op: "exec", sql }, "exec");
    },
    all: <T>(sql: string, args: SqlValue[] = []) => {
      try {
        return Promise.resolve(prepared(sql).all(...args) as T[]);
      } catch (cause) {
        return Promise.reject(new StoreUnavailableError("query", { cause }));
      }
    },
    writeBatch: async (batch: readonly SqlStatement[]) =>
      (await call({ op: "write", statements: batch }, "write", (returned) => {
        for (const [i, values] of returned) {
          batch[i].returning!.length = 0;
          batch[i].returning!.push(...values);
        }
      }))!,
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await call({ op: "close" }, "close");
      } finally {
        if (reader.isOpen) reader.close();
        port.close();
        worker.terminate();
        failAll(new Error("store closed"));
      }
    },
  };
}
