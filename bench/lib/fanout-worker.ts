/**
 * A Web Worker of bench/fanout.ts, so that neither the silent subscribers'
 * frames nor the load generator's responses wait in the event loop of the
 * thread that timestamps deliveries. One message starts a role:
 *
 *   {role: "subscribers", url, count}: opens `count` WebSockets that only count
 *     frames; replies {ready: true}; on {stop: true} closes them and replies {frames}.
 *   {role: "load", url, key, rate, seconds}: POSTs 10-event batches on an evenly
 *     spaced schedule for `seconds`; replies {done: true, failed} when all were answered.
 */
const scope = self as unknown as {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};

function open(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error(`cannot open ${url}`));
  });
}

async function subscribers(url: string, count: number): Promise<void> {
  const sockets = await Promise.all(Array.from({ length: count }, () => open(url)));
  let frames = 0;
  for (const s of sockets) s.onmessage = () => void frames++;
  scope.onmessage = () => {
    for (const s of sockets) s.close();
    scope.postMessage({ frames });
  };
  scope.postMessage({ ready: true });
}

async function load(url: string, key: string, rate: number, seconds: number): Promise<void> {
  const batch = 10;
  const interval = (batch / rate) * 1000;
  const start = performance.now();
  const pending = new Set<Promise<unknown>>();
  let failed = 0;
  for (let i = 0; performance.now() - start < seconds * 1000; i++) {
    const wait = start + i * interval - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const body = JSON.stringify(
      Array.from(
        { length: batch },
        (_, k) => ({ deviceId: `dev-${(i + k) % 100}`, eventType: "t", value: k }),
      ),
    );
    const p: Promise<unknown> = fetch(`${url}/v1/events`, {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json" },
      body,
    }).then((r) => (r.status === 202 ? r.arrayBuffer() : void failed++))
      .catch(() => void failed++)
      .finally(() => pending.delete(p));
    pending.add(p);
  }
  await Promise.all(pending);
  scope.postMessage({ done: true, failed });
}

scope.onmessage = ({ data }) => {
  if (data.role === "subscribers") void subscribers(data.url, data.count);
  else void load(data.url, data.key, data.rate, data.seconds);
};
