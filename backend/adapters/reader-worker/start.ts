/**
 * Starts the reader worker (Web `Worker` + `node:sqlite`: Deno) for a local
 * SQLite file and returns its `ReadOffload`, or null where the runtime has no
 * Web Workers or the database is not a local file.
 */
import type { ReadOffload, ReadOffloadFactory } from "../../http/read-offload.ts";
import type { SqliteOpenOptions } from "../sqlite/pragmas.ts";
import { sqliteFilePath } from "../sqlite/file-path.ts";
import { type HostSide, ReaderWorkerHost } from "./host.ts";
import type { ReaderSettings } from "./protocol.ts";

/** The worker's first message. */
export interface WorkerStart {
  port: MessagePort;
  url: string;
  sqlite: SqliteOpenOptions;
  settings: ReaderSettings;
}

/**
 * Stored buckets with sketches per part of a metric read on the worker: each part is a round trip
 * to the engine's thread under a hold that keeps rollup flushes waiting, so parts are larger than
 * on the ingest thread (2,000) but stay around 10–50 ms.
 */
const WORKER_SKETCH_BUCKETS = 10_000;

/** A `ReadOffloadFactory` for the database at `url`, or null where there can be no worker. */
export function readerWorkerFactory(url: string, sqlite: SqliteOpenOptions): ReadOffloadFactory | null {
  const local = url.startsWith("file:") && sqliteFilePath(url) !== ":memory:";
  if (!local || typeof Worker !== "function") return null;
  return async (deps) => {
    const worker = new Worker(new URL("./entry.ts", import.meta.url).href, { type: "module" });
    const channel = new MessageChannel();
    const start: WorkerStart = {
      port: channel.port2,
      url,
      sqlite,
      settings: {
        storedResolutions: [...deps.storedResolutions],
        limits: { ...deps.limits },
        sliceSketchBuckets: WORKER_SKETCH_BUCKETS,
      },
    };
    const started = new Promise<void>((resolve, reject) => {
      worker.onmessage = ({ data }: MessageEvent<{ type: string; message?: string }>) =>
        data.type === "ready" ? resolve() : reject(new Error(data.message));
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
    worker.postMessage(start, [channel.port2]);
    try {
      await started;
    } catch (error) {
      worker.terminate();
      deps.logger.error("reader worker did not start: heavy reads run on the ingest thread", {
        error: error instanceof Error ? error.message : String(error),
      });
      return null;
    }
    const host: ReadOffload & { fail(reason: string): void } = new ReaderWorkerHost(
      channel.port1 as unknown as HostSide,
      { reader: deps.reader, logger: deps.logger, terminate: () => worker.terminate() },
    );
    worker.onerror = (event) => {
      event.preventDefault();
      host.fail(event.message);
    };
    return host;
  };
}
