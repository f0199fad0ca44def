// In-process cost of the single-event path (no network): N concurrent app.request() loops.
import { boot } from "../backend/adapters/boot.ts";
const dir = await Deno.makeTempDir();
const booted = (await boot({
  DATABASE_URL: `file:${dir}/b.db`,
  LOG_LEVEL: "warn",
  BOOTSTRAP_API_KEY: "bench-key-0123456789abcdef",
  RATE_LIMIT_EVENTS_PER_SEC: "1000000000",
  RATE_LIMIT_BURST: "1000000000",
}))!;
const app = booted.server.app;
const body = '{"deviceId":"dev-17","eventType":"temperature","value":21.5}';
// Usage: deno run -A bench/inproc.ts [path] [--idem]   (--idem: a unique Idempotency-Key per request)
const idem = Deno.args.includes("--idem");
const path = Deno.args.find((a) => a.startsWith("/")) ?? "/v1/events";
let counter = 0;
const CONCURRENCY = Number(Deno.env.get("CONCURRENCY") ?? 64);
async function worker(n: number) {
  for (let i = 0; i < n; i++) {
    const res = await app.request(`http://x${path}`, {
      method: path === "/v1/events" ? "POST" : "GET",
      headers: {
        ...(idem ? { "idempotency-key": `bench-${counter++}` } : {}),
        "x-api-key": "bench-key-0123456789abcdef",
        "content-type": "application/json",
        "content-length": String(body.length),
      },
      body: path === "/v1/events" ? body : undefined,
    });
    await res.arrayBuffer();
  }
}
for (const round of [1, 2, 3]) {
  const t = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(32000 / CONCURRENCY)));
  console.log(round, Math.round(32000 / ((performance.now() - t) / 1000)), "req/s in-process");
}
await booted.server.close();
await Deno.remove(dir, { recursive: true });
