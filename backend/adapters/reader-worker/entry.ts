/**
 * The reader worker's script: opens a `query_only` connection to the database
 * file and serves the host's heavy reads on it (jobs.ts). The first message
 * brings the port, the database URL and the settings; the worker answers
 * `ready` or `failed` on its global scope.
 */
import { openNodeSqliteDriver } from "../sqlite/node-sqlite-driver.ts";
import { zlibPayloadCodec } from "../sqlite/zlib-payload-codec.ts";
import { openSqliteReader } from "../../store/sqlite/sqlite-store.ts";
import { serveReadJobs, type WorkerSide } from "./jobs.ts";
import type { WorkerStart } from "./start.ts";

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<WorkerStart>) => void) | null;
  postMessage(message: { type: "ready" } | { type: "failed"; message: string }): void;
};

scope.onmessage = async ({ data }) => {
  scope.onmessage = null;
  try {
    const driver = openNodeSqliteDriver(data.url, { ...data.sqlite, queryOnly: true });
    const reader = await openSqliteReader({ driver, payloadCodec: zlibPayloadCodec });
    serveReadJobs(data.port as unknown as WorkerSide, reader, data.settings);
    scope.postMessage({ type: "ready" });
  } catch (error) {
    scope.postMessage({ type: "failed", message: error instanceof Error ? error.message : String(error) });
  }
};
