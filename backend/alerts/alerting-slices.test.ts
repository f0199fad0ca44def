/**
 * Evaluation rounds run in slices (ALERTS_EVAL_SLICE_MS): a round's rules
 * are evaluated query shape by query shape, each slice committed before the
 * event loop takes its turn. Slicing changes when the work runs, not what it
 * finds: the same events give the same transitions, values and instances as
 * one unsliced round.
 */
import { describe, expect, it } from "vitest";
import { type AppFixture, FakeClock, withApp } from "../testing/with-app.ts";
import { ENV, MIN, NOW, post, tick, windowClosed } from "../testing/alert-fixture.ts";

const TYPES = ["temperature", "humidity", "pressure"];
const AGGS = ["avg", "max", "p99", "count"];

/** 24 rules over 3 types (4 aggregates, per device and overall, two windows), 5 minutes of data. */
async function scenario(f: AppFixture, clock: FakeClock) {
  let n = 0;
  for (const eventType of TYPES) {
    for (const aggregate of AGGS) {
      for (const groupBy of ["device", "none"]) {
        await post(f, "/v1/alerts/rules", {
          name: `r${n}`,
          eventType,
          aggregate,
          window: n % 3 ? "1m" : "2m",
          groupBy,
          op: ">",
          threshold: aggregate === "count" ? 2 : 30 + (n % 5),
          for: n % 2 ? "1m" : "0s",
          keepFiringFor: n % 4 === 3 ? "1m" : "0s",
        });
        n++;
      }
    }
  }
  for (let m = 0; m < 5; m++) {
    const events = [];
    for (const eventType of TYPES) {
      for (let d = 0; d < 6; d++) {
        // Devices cross the thresholds at different minutes, and some go quiet.
        if ((d + m) % 5 === 4) continue;
        for (let k = 0; k < 3; k++) {
          events.push({
            deviceId: `d-${d}`,
            eventType,
            value: 20 + ((d * 7 + m * 11 + k * 3) % 25),
            timestamp: clock.now() - 50_000 + k * 15_000,
          });
        }
      }
    }
    await post(f, "/v1/events", events);
    for (const eventType of TYPES) await windowClosed(f, eventType, clock.now());
    await tick(f);
    clock.advance(MIN);
  }
  const history = (await (await f.request("/v1/alerts/history?limit=1000")).json()).history;
  const instances = (await f.server.store.alerts.loadAlertInstances())
    .map(({ ruleId: _, ...i }) => i)
    .sort((a, b) => a.fingerprint.localeCompare(b.fingerprint));
  return {
    transitions: history.map((t: Record<string, unknown>) => [t.fingerprint, t.from, t.to, t.at, t.value]),
    instances,
    slices: f.server.alerting.evaluator.slices,
  };
}

describe("sliced evaluation rounds", () => {
  it("find exactly what one unsliced round finds", async () => {
    const run = (slice: string, changes = "100000") => {
      const clock = new FakeClock(NOW);
      return withApp((f) => scenario(f, clock), {
        clock,
        env: { ...ENV, ALERTS_EVAL_SLICE_MS: slice, ALERTS_EVAL_SLICE_CHANGES: changes },
      });
    };
    const whole = await run("1000");
    const sliced = await run("0");
    // A slice ends at its first state change or instance row to write.
    const byRows = await run("1000", "1");
    expect(whole.transitions.length).toBeGreaterThan(30);
    expect(sliced.transitions).toEqual(whole.transitions);
    expect(sliced.instances).toEqual(whole.instances);
    expect(byRows.transitions).toEqual(whole.transitions);
    expect(byRows.instances).toEqual(whole.instances);
    // One slice per round unsliced; with a budget of 0, one per query shape.
    expect(whole.slices).toBe(15);
    expect(sliced.slices).toBeGreaterThan(2 * whole.slices);
    expect(byRows.slices).toBeGreaterThan(2 * whole.slices);
  });
});
