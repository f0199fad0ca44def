/**
 * Instrumentation cost without the network: the whole app in-process
 * (`app.request()`, real SQLite file, writer-worker driver), single events at
 * 64 concurrent loops and 1,000-event batches at 8, with METRICS_INSTRUMENTATION
 * on and off alternating round by round. Prints throughput and the process's
 * CPU time per event (user + system, all threads), whose medians are less
 * sensitive than throughput to other load on a shared machine.
 *
 *   deno run -A bench/instrumentation-inproc.ts [rounds=5]
 */
import process from "node:process";
import { boot } from "../backend/adapters/boot.ts";

const ROUNDS = Number(Deno.args[0] ?? 5);
const KEY = "bench-key-0123456789abcdef";
const single = '{"deviceId":"dev-17","eventType":"temperature","value":21.5}';
const batch = JSON.stringify(
  Array.from(
    { length: 1000 },
    (_, i) => ({ deviceId: `dev-${i % 100}`, eventType: "temperature", value: i }),
  ),
);
const SHAPES = [
  { name: "single", body: single, events: 1, requests: 16_000, concurrency: 64 },
  { name: "batch", body: batch, events: 1000, requests: 160, concurrency: 8 },
];

async function measure(mode: "on" | "off", shape: (typeof SHAPES)[number]) {
  const dir = await Deno.makeTempDir();
  const booted = (await boot({
    DATABASE_URL: `file:${dir}/b.db`,
    LOG_LEVEL: "warn",
    BOOTSTRAP_API_KEY: KEY,
    RATE_LIMIT_EVENTS_PER_SEC: "1000000000",
    RATE_LIMIT_BURST: "1000000000",
    METRICS_INSTRUMENTATION: mode,
  }))!;
  const app = booted.server.app;
  const headers = { "x-api-key": KEY, "content-type": "application/json" };
  const run = async (n: number) => {
    const worker = async () => {
      for (let i = 0; i < n / shape.concurrency; i++) {
        const res = await app.request("http://x/v1/events", { method: "POST", headers, body: shape.body });
        if (res.status !== 202) throw new Error(`status ${res.status}`);
        await res.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: shape.concurrency }, worker));
  };
  await run(shape.requests / 4); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run(shape.requests);
  const wallS = (performance.now() - t0) / 1000;
  const cpu1 = process.cpuUsage();
  await booted.server.close();
  await Deno.remove(dir, { recursive: true });
  const events = shape.requests * shape.events;
  return {
    eventsPerSec: events / wallS,
    cpuUsPerEvent: (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / events,
  };
}

/** The median; the mean of the two middle values for an even count. */
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
for (const shape of SHAPES) {
  const got: Record<string, { eventsPerSec: number; cpuUsPerEvent: number }[]> = { on: [], off: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of ["off", "on"] as const) {
      const m = await measure(mode, shape);
      got[mode].push(m);
      console.log(
        `${shape.name} ${mode} round ${r + 1}: ${m.eventsPerSec.toFixed(0)} events/s, ${
          m.cpuUsPerEvent.toFixed(2)
        } µs CPU/event`,
      );
    }
  }
  const eps = (m: string) => median(got[m].map((x) => x.eventsPerSec));
  const cpu = (m: string) => median(got[m].map((x) => x.cpuUsPerEvent));
  const paired = (f: (x: { eventsPerSec: number; cpuUsPerEvent: number }) => number) =>
    median(got.on.map((x, i) => f(x) / f(got.off[i])));
  console.log(
    `${shape.name}: paired on/off ratio (median of rounds): throughput ${
      paired((x) => x.eventsPerSec).toFixed(3)
    }, CPU/event ${paired((x) => x.cpuUsPerEvent).toFixed(3)}`,
  );
  console.log(
    `${shape.name}: median off ${eps("off").toFixed(0)} / on ${eps("on").toFixed(0)} events/s ` +
      `(${((1 - eps("on") / eps("off")) * 100).toFixed(1)} %), CPU/event off ${cpu("off").toFixed(2)} / on ` +
      `${cpu("on").toFixed(2)} µs (${((cpu("on") / cpu("off") - 1) * 100).toFixed(1)} %)`,
  );
}
