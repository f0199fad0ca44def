/**
 * Scoped fixture for the bulk-import tests (`backend/http/import-*.test.ts`): the import routes
 * against a real store and group committer, a fake clock, and body helpers (NDJSON, gzip, a body
 * that stays open, a committer that reports a full queue).
 */
import { Hono } from "hono";
import { ApiKeyHasher } from "../auth/api-keys.ts";
import { KeyUsageRecorder } from "../auth/key-usage.ts";
import { OverloadedError } from "../errors.ts";
import type { AppEnv } from "../http/app-env.ts";
import { errorResponse } from "../http/error-handler.ts";
import { importRoutes, type ImportRoutesDeps } from "../http/import-routes.ts";
import type { GroupCommitter } from "../ingest/group-committer.ts";
import { RateLimiter } from "../ingest/rate-limiter.ts";
import { createLogger } from "../logger.ts";
import type { EnrichedEvent } from "../../shared/event.ts";
import { type AppFixture, FakeClock, TEST_KEY, withApp } from "./with-app.ts";

/** The fake clock's start. */
export const NOW = Date.parse("2026-11-22T12:00:00.000Z");
export const HOUR = 3_600_000;
const logger = createLogger("silent");
export const encoder = new TextEncoder();
/** A valid client-chosen import id. */
export const ID = "imp_0123456789abcdef0123456789abcdef";

export interface ImportFixture {
  f: AppFixture;
  clock: FakeClock;
  /** POST/GET against a Hono app that mounts only the import routes, with the test admin key. */
  request(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  post(body: BodyInit, headers: Record<string, string>, query?: string): Promise<Response>;
  sleeps: number[];
}

/**
 * Runs `fn` against the import routes mounted alone on a full PulseStream (real SQLite file), with a
 * fake clock that `sleep` advances (the waits are recorded in `sleeps`).
 */
export function withImport(
  fn: (x: ImportFixture) => Promise<void>,
  options: {
    env?: Record<string, string>;
    routes?: Partial<ImportRoutesDeps>;
    /** Fault injection in front of the real group committer. */
    committer?: (real: GroupCommitter) => GroupCommitter;
  } = {},
): Promise<void> {
  const clock = new FakeClock(NOW);
  const sleeps: number[] = [];
  return withApp(async (f) => {
    const { store } = f.server;
    const committer = options.committer?.(f.server.committer) ?? f.server.committer;
    const app = new Hono<AppEnv>();
    app.onError((error, c) => errorResponse(error, c, logger));
    const auth = { store, clock, hasher: new ApiKeyHasher(), usage: new KeyUsageRecorder(store, logger) };
    app.route(
      "/v1/import",
      importRoutes({
        auth,
        store,
        committer,
        clock,
        logger,
        limiter: new RateLimiter(clock),
        defaultRateLimit: f.config.rateLimit,
        eventLimits: f.config.eventLimits,
        requestLimits: f.config.requestLimits,
        partitions: f.config.partitions,
        requestTimeoutMs: f.config.requestTimeoutMs,
        limits: f.config.imports,
        sleep: (ms) => {
          sleeps.push(ms);
          clock.advance(ms);
          return Promise.resolve();
        },
        ...options.routes,
      }),
    );
    const request = (path: string, init: RequestInit & { key?: string | null } = {}) => {
      const headers = new Headers(init.headers);
      const key = init.key === undefined ? TEST_KEY : init.key;
      if (key !== null) headers.set("x-api-key", key);
      const body = init.body instanceof ReadableStream ? { duplex: "half" } : {};
      return Promise.resolve(app.request(`http://localhost${path}`, { ...init, ...body, headers }));
    };
    const post = (body: BodyInit, headers: Record<string, string>, query = "") =>
      request(`/v1/import${query}`, { method: "POST", body, headers });
    await fn({ f, clock, request, post, sleeps });
  }, { clock, env: options.env });
}

/** NDJSON text of `lines` (strings are taken as they are). */
export const ndjson = (lines: unknown[]) =>
  lines.map((l) => typeof l === "string" ? l : JSON.stringify(l)).join("\n");
export const NDJSON = { "content-type": "application/x-ndjson" };
export const CSV = { "content-type": "text/csv" };

/** The job in an import response's envelope. */
export async function jobOf(res: Response) {
  const body = await res.json();
  return body.data;
}

/** A request body that sends `chunks` and then stays open until `close()` is called. */
export function openStream(chunks: string[]) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      for (const chunk of chunks) c.enqueue(encoder.encode(chunk));
    },
  });
  return {
    stream,
    send: (text: string) => controller.enqueue(encoder.encode(text)),
    close: () => controller.close(),
  };
}

export async function gzip(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The real committer behind a gate that answers "queue full" while `refuse()` says so. */
export function overloadedFor(
  real: GroupCommitter,
  refuse: (events: readonly EnrichedEvent[]) => boolean,
): GroupCommitter {
  const gate = Object.create(real) as GroupCommitter;
  gate.submit = (events) => refuse(events) ? Promise.reject(new OverloadedError()) : real.submit(events);
  return gate;
}
