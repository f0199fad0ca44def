/**
 * What the end-to-end alerting tests share: a real webhook receiver on a
 * loopback port, the server's environment for small windows, API calls, a
 * polling wait and an event feed.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { ServerProcess } from "./server-process.ts";

export const KEY = "alerting-test-key-0123456789abcdef";
export const ZERO = "0001-01-01T00:00:00Z";

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown> & {
    alerts: (Record<string, unknown> & { labels: Record<string, string> })[];
  };
}

/**
 * A webhook receiver: records every request (with its arrival time); `fail(path, n)` answers 500
 * to the next n requests of `path`, `hold(path, n)` holds the next n open without an answer.
 */
export class Receiver {
  readonly received: (Received & { at: number })[] = [];
  readonly #failures = new Map<string, number>();
  readonly #holds = new Map<string, number>();
  readonly #hanging: { end(): void }[] = [];
  #server: Server | null = null;
  constructor(readonly port: number) {}
  fail(path: string, n: number): void {
    this.#failures.set(path, n);
  }
  hold(path: string, n: number): void {
    this.#holds.set(path, n);
  }
  at(path: string): (Received & { at: number })[] {
    return this.received.filter((r) => r.path === path);
  }
  listen(): Promise<void> {
    this.#server = createServer((req, res) => {
      let text = "";
      req.on("data", (d) => (text += d));
      req.on("end", () => {
        this.received.push({ path: req.url!, headers: req.headers, body: JSON.parse(text), at: Date.now() });
        // `/hang…` never answers: the server's webhook timeout has to end the attempt.
        const held = this.#holds.get(req.url!) ?? 0;
        if (held > 0) this.#holds.set(req.url!, held - 1);
        if (req.url!.startsWith("/hang") || held > 0) return void this.#hanging.push(res);
        const left = this.#failures.get(req.url!) ?? 0;
        if (left > 0) this.#failures.set(req.url!, left - 1);
        res.writeHead(left > 0 ? 500 : 200).end("ok");
      });
    });
    return new Promise((r) => this.#server!.listen(this.port, "127.0.0.1", () => r()));
  }
  close(): Promise<void> {
    for (const res of this.#hanging.splice(0)) res.end();
    this.#server?.closeAllConnections();
    return new Promise((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}

export const ENV = {
  BOOTSTRAP_API_KEY: KEY,
  LOG_LEVEL: "warn",
  ALLOWED_LATENESS_MS: "0",
  PARTITION_IDLE_MS: "200",
  LIVE_UPDATE_MS: "100",
  ROLLUP_FLUSH_MS: "200",
  ALERTS_EVAL_INTERVAL_MS: "100",
  ALERTS_RETRY_BASE_MS: "100",
  ALERTS_RETRY_MAX_MS: "300",
  ALERTS_WEBHOOK_TIMEOUT_MS: "2000",
  // The receivers listen on loopback, which webhooks reach only when opted in.
  ALERTS_WEBHOOK_ALLOWED_NETWORKS: "127.0.0.1",
};

export async function api(server: ServerProcess, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { "x-api-key": KEY, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v as T;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Posts one event per 100 ms for `deviceId` until the returned function is called. */
export function feed(
  server: ServerProcess,
  eventType: string,
  deviceId: string,
  value: number,
): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      await fetch(`${server.url}/v1/events`, {
        method: "POST",
        headers: { "x-api-key": KEY, "content-type": "application/json" },
        body: JSON.stringify({ deviceId, eventType, value }),
      });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

export function rule(name: string, eventType: string, receiver: string) {
  return {
    name,
    eventType,
    aggregate: "avg",
    window: "1s",
    groupBy: "device",
    op: ">",
    threshold: 30,
    for: "2s",
    severity: "critical",
    labels: { team: "ops" },
    annotations: { summary: "{{ $labels.deviceId }} is {{ $value }}" },
    receiver,
  };
}
