/**
 * Open windows survive a SIGKILL: events posted before the kill (some already
 * flushed into rollups, the rest only in the raw table) are all in the live
 * 1 s and 1 h windows and in the metrics after the restart, counted once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Runtime, startServer } from "./server-process.ts";

const KEY = "restart-test-key-0123456789abcdef";
const HOUR = 3_600_000;

describe.each(["deno", "node"] as Runtime[])("stream state across SIGKILL (%s)", (runtime) => {
  it("rebuilds the open windows from the stored rollups and the raw events", async () => {
    // Keep the test's events and the restart inside one hour window.
    const intoHour = Date.now() % HOUR;
    if (intoHour > HOUR - 20_000) await new Promise((r) => setTimeout(r, HOUR - intoHour + 100));
    const dir = mkdtempSync(join(tmpdir(), "pulsestream-restart-"));
    const env = {
      DATABASE_URL: `file:${join(dir, "r.db")}`,
      BOOTSTRAP_API_KEY: KEY,
      LOG_LEVEL: "error",
      ROLLUP_FLUSH_MS: "200",
      ALLOWED_LATENESS_MS: "30000",
    };
    const headers = { "x-api-key": KEY, "content-type": "application/json" };
    const ts = Date.now();
    const post = (url: string, from: number, n: number) =>
      fetch(`${url}/v1/events`, {
        method: "POST",
        headers,
        body: JSON.stringify(
          Array.from(
            { length: n },
            (_, i) => ({ deviceId: "dev-r", eventType: "rpm", value: from + i, timestamp: ts }),
          ),
        ),
      });
    let server = await startServer(runtime, env);
    try {
      expect((await post(server.url, 0, 50)).status).toBe(202);
      await new Promise((r) => setTimeout(r, 600)); // flushed: in the rollups, checkpoint moved
      expect((await post(server.url, 50, 30)).status).toBe(202); // not flushed before the kill
      await server.kill("SIGKILL");
      server = await startServer(runtime, env, { port: server.port });

      const live = async (resolution: string) => {
        const res = await fetch(
          `${server.url}/v1/metrics/live?eventType=rpm&deviceId=dev-r&resolution=${resolution}`,
          {
            headers,
          },
        );
        const { data } = await res.json();
        return data.map((w: { start: number; values: { count: number; sum: number; max: number } }) => ({
          start: w.start,
          count: w.values.count,
          sum: w.values.sum,
          max: w.values.max,
        }));
      };
      const sum = (79 * 80) / 2;
      expect(await live("1s")).toEqual([{ start: ts - (ts % 1000), count: 80, sum, max: 79 }]);
      expect(await live("1h")).toEqual([{ start: ts - (ts % HOUR), count: 80, sum, max: 79 }]);
      const q = await fetch(
        `${server.url}/v1/metrics?eventType=rpm&from=${ts - (ts % HOUR)}&to=${ts + 1}&step=1h&agg=count,sum`,
        { headers },
      );
      expect((await q.json()).series[0].values).toEqual({ count: [80], sum: [sum] });
    } finally {
      await server.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
