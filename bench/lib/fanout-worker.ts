/**
 * A Web Worker of bench/fanout.ts, so that neither the silent subscribers'
 * frames nor the load generator's responses wait in the event loop of the
 * thread that timestamps deliveries. One message starts a role:
 *
 *   {role: "subscribers", url, count}: opens `count` WebSockets that only count
 *     the bytes they receive; replies {ready: true}; on {stop: true} closes them
 *     and replies {minBytes, maxBytes} over the subscribers.
 *   {role: "load", url, key, rate, seconds, devices?, retry?}: POSTs 10-event batches on an evenly
 *     spaced schedule for `seconds`, device ids cycling over `devices` (default 100), with `retry`
 *     sending a 429/503 again after its Retry-After; replies
 *     {done: true, failed, accepted, statuses} when all were answered (statuses: count per
 *     HTTP status, 0 for a request that got no answer).
 */
const scope = self as unknown as {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};

/**
 * A subscriber that reads its WebSocket's bytes and drops them: the upgrade is done by hand over
 * TCP and frames are never decoded, so that 95 copies of the stream cost this process a socket
 * read each, not a UTF-8 decode into a string and an event per frame. Counts the bytes after the
 * upgrade response. The server's pings go unanswered, which is fine for runs shorter than its idle
 * timeout (2 × LIVE_HEARTBEAT_MS, 30 s by default).
 */
async function silentSubscriber(url: string): Promise<{ bytes: () => number; close: () => void }> {
  const target = new URL(url);
  const conn = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
  await conn.write(
    new TextEncoder().encode(
      `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ),
  );
  const buffer = new Uint8Array(256 * 1024);
  let head = "";
  let bytes = 0;
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("closed during the upgrade");
    head += new TextDecoder().decode(buffer.subarray(0, n));
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) continue;
    if (!head.startsWith("HTTP/1.1 101")) throw new Error(`upgrade refused: ${head.split("\r\n")[0]}`);
    bytes = head.length - end - 4; // frames that came with the response (ASCII head, so lengths agree)
    break;
  }
  let open = true;
  (async () => {
    try {
      for (let n = await conn.read(buffer); n !== null && open; n = await conn.read(buffer)) bytes += n;
    } catch { /* closed */ }
  })();
  return {
    bytes: () => bytes,
    close: () => {
      open = false;
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  };
}

async function subscribers(url: string, count: number): Promise<void> {
  const sockets = await Promise.all(Array.from({ length: count }, () => silentSubscriber(url)));
  scope.onmessage = () => {
    const bytes = sockets.map((s) => s.bytes());
    for (const s of sockets) s.close();
    scope.postMessage({ minBytes: Math.min(...bytes), maxBytes: Math.max(...bytes) });
  };
  scope.postMessage({ ready: true });
}

async function load(
  url: string,
  key: string,
  rate: number,
  seconds: number,
  devices = 100,
  retry = false,
): Promise<void> {
  const batch = 10;
  const statuses: Record<number, number> = {};
  let accepted = 0;
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
        (_, k) => ({
          id: `ld-${i}-${k}`,
          deviceId: `dev-${(i * batch + k) % devices}`,
          eventType: "t",
          value: k,
        }),
      ),
    );
    // As a client should: a 429/503 is sent again after its Retry-After (the events carry ids, so
    // a resend can never store twice), up to 5 attempts; only a request never answered 202 fails.
    const send = async (attempt: number): Promise<void> => {
      const r = await fetch(`${url}/v1/events`, {
        method: "POST",
        headers: { "x-api-key": key, "content-type": "application/json" },
        body,
      });
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if ((r.status === 503 || r.status === 429) && retry && attempt < 5) {
        await r.arrayBuffer();
        await new Promise((res) => setTimeout(res, Number(r.headers.get("retry-after") ?? 1) * 1000));
        return send(attempt + 1);
      }
      if (r.status !== 202) return void failed++;
      const { data } = await r.json(); // read before adding: `x += await …` would add to a stale x
      accepted += data.totals.accepted;
    };
    const p: Promise<unknown> = send(1)
      .catch(() => {
        failed++;
        statuses[0] = (statuses[0] ?? 0) + 1;
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  }
  await Promise.all(pending);
  scope.postMessage({ done: true, failed, accepted, statuses });
}

scope.onmessage = ({ data }) => {
  if (data.role === "subscribers") void subscribers(data.url, data.count);
  else void load(data.url, data.key, data.rate, data.seconds, data.devices, data.retry);
};
