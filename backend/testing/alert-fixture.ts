/**
 * Shared setup of the in-process alerting tests: a real webhook receiver
 * (node:http on a free loopback port) whose answers a test chooses, and the
 * steps those tests repeat against a `withApp` fixture with fake time
 * (posting, announcing a closed window as the engine does, running the timer).
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { nodeWebhookClient } from "../adapters/webhook-client.ts";
import { loadConfig } from "../config.ts";
import { createLogger } from "../logger.ts";
import { createPulseStream } from "../server.ts";
import { type AppFixture, type FakeClock, TEST_KEY, withTempDir } from "./with-app.ts";

export const NOW = Date.parse("2026-11-22T12:00:00.000Z");
export const MIN = 60_000;
export const json = (v: unknown) => JSON.stringify(v);
export const iso = (ms: number) => new Date(ms).toISOString();

/** One request the receiver got. */
export interface HookRequest {
  path: string;
  /** `X-PulseStream-Notification-Id`. */
  id: string;
  headers: IncomingHttpHeaders;
  /** The status answered, or "hang" (held open). */
  answered: number | "hang";
  // deno-lint-ignore no-explicit-any -- the Alertmanager payload, asserted field by field by the tests
  body: any;
}

/**
 * A webhook receiver. `answer(path)` chooses each response: a status, or `"hang"` to hold the
 * request open until `release()` or `close()`. Default: 500 for paths starting with `/fail`, else 200.
 */
export class HookReceiver {
  readonly received: HookRequest[] = [];
  answer: (path: string) => number | "hang" = (path) => (path.startsWith("/fail") ? 500 : 200);
  port = 0;
  readonly #held: ServerResponse[] = [];
  #server: Server | null = null;

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      let text = "";
      req.on("data", (d) => (text += d));
      req.on("end", () => {
        const answer = this.answer(req.url!);
        this.received.push({
          path: req.url!,
          id: String(req.headers["x-pulsestream-notification-id"]),
          headers: req.headers,
          answered: answer,
          body: JSON.parse(text),
        });
        if (answer === "hang") this.#held.push(res);
        else res.writeHead(answer).end();
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", () => r()));
    this.port = (this.#server.address() as { port: number }).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(path: string): HookRequest[] {
    return this.received.filter((r) => r.path === path);
  }

  /** Answers every held request with `status`. */
  release(status = 200): void {
    for (const res of this.#held.splice(0)) res.writeHead(status).end();
  }

  close(): Promise<void> {
    this.release();
    return new Promise((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}

/**
 * The env of the fake-time tests: the timer runs only when a test calls `tick`; the receivers
 * listen on loopback, which webhooks may reach only when opted in.
 */
export const ENV = { ALERTS_EVAL_INTERVAL_MS: "60000", ALERTS_WEBHOOK_ALLOWED_NETWORKS: "127.0.0.1" };

/** A HookReceiver started before the file's tests and closed after them. */
export function useHookReceiver(): HookReceiver {
  const hook = new HookReceiver();
  beforeAll(() => hook.start());
  afterAll(() => hook.close());
  return hook;
}

/** POSTs `body`, expects 202 (events) or 201, returns the JSON answer. */
export async function post(f: AppFixture, path: string, body: unknown) {
  const res = await f.request(path, { method: "POST", body: json(body) });
  expect(res.status).toBe(path === "/v1/events" ? 202 : 201);
  return await res.json();
}

/** Publishes the closed all-device window ending at `end` as the engine does, and waits for the round. */
export async function windowClosed(f: AppFixture, eventType: string, end: number, resolution = MIN) {
  f.server.bus.publish({
    kind: "window",
    final: true,
    resolution,
    eventType,
    deviceId: null,
    start: end - resolution,
    end,
    values: {} as never,
  });
  await f.server.alerting.evaluator.idle();
}

/** One timer round, and the deliveries it started. */
export async function tick(f: AppFixture) {
  await f.server.alerting.tick();
  await f.server.alerting.delivery.idle();
}

/** Events of `values` (device → value) in the minute ending now, its window closes, the timer runs. */
export async function minute(
  f: AppFixture,
  clock: FakeClock,
  values: Record<string, number>,
  eventType = "temperature",
) {
  const events = Object.entries(values).map(([deviceId, value]) => ({
    deviceId,
    eventType,
    value,
    timestamp: clock.now() - 30_000,
  }));
  if (events.length) await post(f, "/v1/events", events);
  await windowClosed(f, eventType, clock.now());
  await tick(f);
}

/** A new key with the `read` scope only. */
export async function readKey(f: AppFixture): Promise<string> {
  const res = await f.request("/v1/admin/keys", {
    method: "POST",
    body: json({ name: "reader", scopes: ["read"] }),
  });
  return (await res.json()).data.key;
}

/** The error envelope. */
export const apiError = (message: string, errors: { field: string; message: string }[] = []) => ({
  status: "error",
  message,
  errors,
});
/** Creates a receiver (201 expected) and returns its JSON. */
export async function receiver(f: AppFixture, over: Record<string, unknown> = {}) {
  const res = await f.request("/v1/alerts/receivers", {
    method: "POST",
    body: json({ name: "ops-webhook", url: "http://hooks.example.test:9/hook", ...over }),
  });
  expect(res.status).toBe(201);
  return await res.json();
}

/** A per-device threshold rule body (`over` replaces fields). */
export const ruleBody = (receiverId: string | null, over: Record<string, unknown> = {}) => ({
  name: "HighTemp",
  eventType: "temperature",
  filter: { metadata: { site: "berlin" } },
  aggregate: "avg",
  window: "1m",
  groupBy: "device",
  op: ">",
  threshold: 30,
  for: "2m",
  severity: "critical",
  labels: { team: "ops" },
  annotations: { summary: "{{ $labels.deviceId }} is {{ $value }}" },
  receiver: receiverId,
  ...over,
});

/**
 * Runs `fn` with `open(env)`, which starts a PulseStream on one SQLite file in a temp directory
 * (each call a new process-like instance on the same file; `env` added to the base env). Every
 * instance opened is closed afterwards.
 */
export function withRestarts<T>(
  fn: (open: (env?: Record<string, string>) => Promise<AppFixture>) => Promise<T>,
  options: { clock: FakeClock; env?: Record<string, string> },
): Promise<T> {
  return withTempDir(async (dir) => {
    const opened: AppFixture[] = [];
    const open = async (env: Record<string, string> = {}) => {
      const config = loadConfig({
        DATABASE_URL: `file:${join(dir, "r.db")}`,
        BOOTSTRAP_API_KEY: TEST_KEY,
        LOG_LEVEL: "silent",
        ...options.env,
        ...env,
      });
      const server = await createPulseStream(config, {
        driver: await openSqlDriver(config.databaseUrl, { ...config.sqlite, preference: "auto" }),
        logger: createLogger("silent"),
        clock: options.clock,
        print: () => {},
        webhookClient: nodeWebhookClient,
      });
      // A test may close an instance itself (a restart); the cleanup's close is then a no-op.
      const close = server.close.bind(server);
      let closing: Promise<void> | null = null;
      server.close = () => (closing ??= close());
      const f: AppFixture = {
        server,
        config,
        dir,
        request: (path, init = {}) =>
          Promise.resolve(server.app.request(`http://localhost${path}`, {
            ...init,
            headers: { "x-api-key": TEST_KEY, "content-type": "application/json" },
          })),
      };
      opened.push(f);
      return f;
    };
    try {
      return await fn(open);
    } finally {
      for (const f of opened) await f.server.close().catch(() => {});
    }
  });
}
