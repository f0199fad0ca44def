/**
 * The dry run over a fixture stream: the exact transitions every series would
 * have made (times, values, labels, fingerprints), for sub-minute steps (raw
 * events) and whole-minute steps (rollups), and a rule that would not fire.
 */
import { describe, expect, it } from "vitest";
import { fingerprint } from "../alerts/labels.ts";
import { apiError as error, iso, json, MIN, NOW, ruleBody } from "../testing/alert-fixture.ts";
import { type AppFixture, FakeClock, withApp } from "../testing/with-app.ts";

const dryRun = async (f: AppFixture, rule: Record<string, unknown>, from: number, to: number | string) => {
  const res = await f.request("/v1/alerts/rules/dry-run", { method: "POST", body: json({ rule, from, to }) });
  expect(res.status).toBe(200);
  return await res.json();
};
const labelsOf = (deviceId: string) => ({
  alertname: "HighTemp",
  severity: "critical",
  team: "ops",
  deviceId,
});

describe("alerting API: dry run", () => {
  it("replays 1 s steps from raw events: exact transitions of the device that fires, none for the other", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      // One event per second and device from NOW-60s: s-1 sends 20 for 10 s, 40 for 10 s, 20 for 10 s;
      // s-2 sends 25 throughout.
      const events = Array.from({ length: 30 }, (_, i) => [
        {
          deviceId: "s-1",
          eventType: "temperature",
          value: i >= 10 && i < 20 ? 40 : 20,
          timestamp: NOW - MIN + i * 1000,
        },
        { deviceId: "s-2", eventType: "temperature", value: 25, timestamp: NOW - MIN + i * 1000 },
      ]).flat();
      expect((await f.request("/v1/events", { method: "POST", body: json(events) })).status).toBe(202);
      const rule = ruleBody(null, { filter: null, window: "2s", for: "3s", annotations: {} });
      const at = (s: number) => iso(NOW - MIN + s * 1000);
      const labels = labelsOf("s-1");
      const fp = fingerprint(labels);
      // avg over 2 s exceeds 30 from the window ending at 12 s ([10,12) all 40; [9,11) is 30: not > 30).
      expect(await dryRun(f, rule, NOW - MIN, iso(NOW - 20_000))).toEqual({
        evaluatedEvery: "1s",
        truncated: false,
        transitions: [
          { at: at(12), fingerprint: fp, labels, from: "inactive", to: "pending", value: 40 },
          { at: at(15), fingerprint: fp, labels, from: "pending", to: "firing", value: 40 },
          { at: at(21), fingerprint: fp, labels, from: "firing", to: "resolved", value: 30 },
        ],
      });
      // The same rule with a threshold nothing reaches would not have fired.
      expect(await dryRun(f, { ...rule, threshold: 40 }, NOW - MIN, NOW)).toEqual({
        evaluatedEvery: "1s",
        truncated: false,
        transitions: [],
      });
    }, { clock });
  });

  it("replays whole-minute steps from rollups, with `for` counted in steps", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const T0 = NOW - 10 * MIN;
      // Per minute m (events at T0 + m min + 30 s): s-1 peaks at 35, 35, 35, 10, 10; s-2 at 20.
      const peaks = [35, 35, 35, 10, 10];
      const events = peaks.flatMap((peak, m) => [
        { deviceId: "s-1", eventType: "temperature", value: peak, timestamp: T0 + m * MIN + 30_000 },
        { deviceId: "s-1", eventType: "temperature", value: 5, timestamp: T0 + m * MIN + 40_000 },
        { deviceId: "s-2", eventType: "temperature", value: 20, timestamp: T0 + m * MIN + 30_000 },
      ]);
      expect((await f.request("/v1/events", { method: "POST", body: json(events) })).status).toBe(202);
      const rule = ruleBody(null, {
        filter: null,
        aggregate: "max",
        window: "1m",
        for: "1m",
        annotations: {},
      });
      const labels = labelsOf("s-1");
      const fp = fingerprint(labels);
      expect(await dryRun(f, rule, T0, T0 + 5 * MIN)).toEqual({
        evaluatedEvery: "1m",
        truncated: false,
        transitions: [
          { at: iso(T0 + MIN), fingerprint: fp, labels, from: "inactive", to: "pending", value: 35 },
          { at: iso(T0 + 2 * MIN), fingerprint: fp, labels, from: "pending", to: "firing", value: 35 },
          { at: iso(T0 + 4 * MIN), fingerprint: fp, labels, from: "firing", to: "resolved", value: 10 },
        ],
      });
      expect(await dryRun(f, { ...rule, groupBy: "none", aggregate: "avg" }, T0, T0 + 5 * MIN)).toEqual({
        evaluatedEvery: "1m",
        truncated: false,
        transitions: [],
      });
    }, { clock });
  });

  it("refuses a bad range or rule with the fields named", async () => {
    await withApp(async (f) => {
      const bad = await f.request("/v1/alerts/rules/dry-run", {
        method: "POST",
        body: json({ rule: { name: "x" }, from: "yesterday", to: NOW }),
      });
      expect(await bad.json()).toEqual(error("Invalid dry run", [
        { field: "from", message: "from must be epoch ms, ISO-8601 or now-<n>(s|m|h|d|w)" },
      ]));
      const badRule = await f.request("/v1/alerts/rules/dry-run", {
        method: "POST",
        body: json({
          rule: { name: "x", eventType: "t", aggregate: "avg", op: ">", threshold: 1 },
          from: 0,
          to: NOW,
        }),
      });
      expect(await badRule.json()).toEqual(error("Invalid alert rule", [
        {
          field: "rule.window",
          message:
            'window must be a duration like "30s", "5m", "1h" (or integer ms) from 1000 ms to 604800000 ms',
        },
      ]));
    });
  });
});
