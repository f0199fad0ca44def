/**
 * The reader worker's side of `protocol.ts`: runs metric and export jobs on the
 * worker's own read connection and hands their bytes to the host one chunk per
 * pull. Metric reads see the engine's unflushed deltas through a stand-in
 * engine that asks the host inside a hold (see `protocol.ts`).
 */
import { AppError, ValidationError } from "../../errors.ts";
import { exportStream } from "../../export/export-service.ts";
import { metricsHead, metricsSlicedStream } from "../../http/metrics-json.ts";
import { MetricsService } from "../../metrics/metrics-query.ts";
import type { ConsistentReader, EngineReads } from "../../metrics/metrics-types.ts";
import type { Store } from "../../store/store.ts";
import { Agg } from "../../stream/aggregate.ts";
import type {
  EngineAnswer,
  EngineAsk,
  HostMessage,
  ReaderSettings,
  ReadJob,
  WireError,
  WorkerMessage,
} from "./protocol.ts";

/** The end of the channel the worker talks to the host on. */
export interface WorkerSide {
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<HostMessage>) => void) | null;
}

/** The worker's store: read methods, each to be run inside `snapshot` (`SqliteReader`). */
export interface SnapshotStore {
  store: Store;
  snapshot<T>(read: () => Promise<T>): Promise<T>;
}

/** Serves the host's jobs on `port` until the worker ends. */
export function serveReadJobs(port: WorkerSide, reader: SnapshotStore, settings: ReaderSettings): void {
  const store = throughSnapshots(reader.store, reader.snapshot);
  const replies = new Map<number, (message: HostMessage) => void>();
  let nextCall = 1;
  const call = (message: (id: number) => WorkerMessage): Promise<HostMessage> => {
    const id = nextCall++;
    return new Promise((resolve) => {
      replies.set(id, resolve);
      port.postMessage(message(id));
    });
  };
  const remote: ConsistentReader = {
    async consistentRead(read) {
      const held = await call((id) => ({ type: "hold", call: id }));
      if (held.type !== "held") throw new Error("reader protocol: expected held");
      try {
        return await read(held.engine ? remoteEngine(held.call, call) : null);
      } finally {
        port.postMessage({ type: "release", hold: held.call });
      }
    },
  };
  const metrics = new MetricsService(store, remote, settings.storedResolutions, settings.limits, {
    sliceSketchBuckets: settings.sliceSketchBuckets,
  });
  const jobs = new Map<number, ReadableStreamDefaultReader<Uint8Array>>();

  const open = async (job: number, spec: ReadJob): Promise<ReadableStream<Uint8Array>> => {
    if (spec.kind === "metrics") {
      const result = await metrics.querySlices(spec.query);
      return metricsSlicedStream(metricsHead(spec.query, result.source), result, {
        maxBytes: spec.maxAnswerBytes,
        onCut: (series, bytes) => port.postMessage({ type: "cut", job, series, bytes }),
      });
    }
    return await exportStream(store, spec.request, {
      pageSize: spec.pageSize,
      onError: (error, records) => port.postMessage({ type: "broke", job, message: String(error), records }),
    });
  };
  const pull = async (job: number) => {
    const reader = jobs.get(job);
    if (!reader) return port.postMessage({ type: "end", job });
    try {
      const next = await reader.read();
      if (next.done) {
        jobs.delete(job);
        port.postMessage({ type: "end", job });
        return;
      }
      // A copy of exactly the chunk's bytes, moved: a view's whole buffer would be cloned, and the
      // writer may reuse it.
      const bytes = next.value.slice();
      port.postMessage({ type: "chunk", job, bytes }, [bytes.buffer]);
    } catch (error) {
      jobs.delete(job);
      port.postMessage({ type: "failed", job, error: toWire(error) });
    }
  };

  port.onmessage = ({ data: message }) => {
    switch (message.type) {
      case "held":
      case "answer":
        replies.get(message.call)?.(message);
        replies.delete(message.call);
        return;
      case "open":
        open(message.job, message.spec).then(
          (stream) => {
            jobs.set(message.job, stream.getReader());
            port.postMessage({ type: "opened", job: message.job });
          },
          (error) => port.postMessage({ type: "failed", job: message.job, error: toWire(error) }),
        );
        return;
      case "read":
        store.readEventsAfter(message.spec.afterSeq, message.spec.limit).then(
          (events) => port.postMessage({ type: "events", job: message.job, events }),
          (error) => port.postMessage({ type: "failed", job: message.job, error: toWire(error) }),
        );
        return;
      case "pull":
        void pull(message.job);
        return;
      case "cancel": {
        const reader = jobs.get(message.job);
        jobs.delete(message.job);
        reader?.cancel().catch(() => {});
        return;
      }
    }
  };
}

/** An engine whose every read is a question to the host, inside the hold `hold`. */
function remoteEngine(
  hold: number,
  call: (message: (id: number) => WorkerMessage) => Promise<HostMessage>,
): EngineReads {
  const ask = async <K extends EngineAnswer["kind"]>(
    question: EngineAsk & { kind: K },
  ): Promise<EngineAnswer & { kind: K }> => {
    const reply = await call((id) => ({ type: "ask", call: id, hold, ask: question }));
    if (reply.type !== "answer" || !reply.answer) {
      throw new Error(`engine read failed: ${reply.type === "answer" ? reply.error : reply.type}`);
    }
    return reply.answer as EngineAnswer & { kind: K };
  };
  return {
    async unflushedRollups(query) {
      const { rows } = await ask({ kind: "rollups", query });
      return rows.map((r) => ({ deviceId: r.deviceId, start: r.start, agg: Agg.fromState(r.state) }));
    },
    async unflushedSeries(query) {
      const { rows } = await ask({ kind: "series", query });
      return rows.map((r) => ({ eventType: r.eventType, deviceId: r.deviceId, agg: Agg.fromState(r.state) }));
    },
    async anyUntracked(eventType, deviceIds) {
      return (await ask({ kind: "untracked", eventType, deviceIds: [...deviceIds] })).any;
    },
  };
}

/** `target` with every method (also of nested objects, e.g. `storage`) run inside `snapshot`. */
function throughSnapshots<T extends object>(
  target: T,
  snapshot: <R>(read: () => Promise<R>) => Promise<R>,
): T {
  const nested = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property);
      if (typeof value === "function") {
        return (...args: unknown[]) => snapshot(() => Promise.resolve(value.apply(object, args)));
      }
      if (value === null || typeof value !== "object") return value;
      if (!nested.has(property)) nested.set(property, throughSnapshots(value, snapshot));
      return nested.get(property);
    },
  });
}

function toWire(error: unknown): WireError {
  if (error instanceof AppError) {
    return {
      status: error.status,
      message: error.message,
      errors: error.errors,
      body: error instanceof ValidationError ? error.body : undefined,
    };
  }
  return { status: null, message: error instanceof Error ? error.message : String(error), errors: [] };
}
