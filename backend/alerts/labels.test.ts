import { describe, expect, it } from "vitest";
import { matches, matchesAll, renderTemplate } from "./labels.ts";
import { afterSend, groupContent, groupOf, nextDue, routesOf } from "./grouping.ts";
import type { AlertInstance, AlertRule, Receiver } from "./model.ts";
import { backoffMs } from "./delivery.ts";
import { formatDuration, parseAlertDuration } from "./duration.ts";

describe("annotation templates", () => {
  it("renders $value (6 significant digits) and $labels, leaving other text alone", () => {
    const labels = { deviceId: "s-1", site: "berlin" };
    expect(
      renderTemplate("{{ $labels.deviceId }} at {{$labels.site}} is {{ $value }}°C", 31.234567891, labels),
    )
      .toBe("s-1 at berlin is 31.2346°C");
    expect(renderTemplate("{{ $labels.missing }}|{{ $value }}|{{ .Other }}", null, labels)).toBe(
      "||{{ .Other }}",
    );
    expect(renderTemplate("{{ $value }}", 1e21, {})).toBe("1e+21");
  });
});

describe("silence matchers", () => {
  const labels = { alertname: "HighTemp", deviceId: "s-1", severity: "critical" };
  it("supports =, !=, =~ and !~ with anchored regexes, and a missing label as empty", () => {
    expect(matches({ name: "deviceId", value: "s-1", isRegex: false, isEqual: true }, labels)).toBe(true);
    expect(matches({ name: "deviceId", value: "s-1", isRegex: false, isEqual: false }, labels)).toBe(false);
    expect(matches({ name: "deviceId", value: "s-.", isRegex: true, isEqual: true }, labels)).toBe(true);
    expect(matches({ name: "deviceId", value: "s", isRegex: true, isEqual: true }, labels)).toBe(false);
    expect(matches({ name: "severity", value: "warn.*", isRegex: true, isEqual: false }, labels)).toBe(true);
    expect(matches({ name: "team", value: "", isRegex: false, isEqual: true }, labels)).toBe(true);
    expect(matchesAll([
      { name: "alertname", value: "HighTemp", isRegex: false, isEqual: true },
      { name: "deviceId", value: "s-2|s-3", isRegex: true, isEqual: true },
    ], labels)).toBe(false);
  });
});

const receiver: Receiver = {
  id: "rcv_1",
  name: "ops",
  url: "http://127.0.0.1:9/hook",
  groupWaitMs: 30_000,
  groupIntervalMs: 300_000,
  repeatIntervalMs: 4 * 3_600_000,
  groupBy: ["alertname"],
  createdAt: 0,
  updatedAt: 0,
};
const inst = (fp: string, state: AlertInstance["state"], firedAt: number | null = 0): AlertInstance => ({
  fingerprint: fp,
  ruleId: "rul_1",
  state,
  labels: { alertname: "HighTemp", deviceId: fp },
  annotations: {},
  value: 1,
  activeAt: 0,
  firedAt,
  resolvedAt: state === "resolved" ? 10 : null,
  lastTrueAt: 0,
  keepFiringSince: null,
});

describe("grouping timers", () => {
  const now = 1_000_000;
  it("waits groupWait for a new group, groupInterval after a send, and repeats after repeatInterval", () => {
    const { key, labels } = groupOf(receiver, { alertname: "HighTemp", deviceId: "a" });
    expect(key).toBe('{}/rcv_1:{alertname="HighTemp"}');
    expect(labels).toEqual({ alertname: "HighTemp" });
    const a = inst("a", "firing");
    expect(nextDue(receiver, groupContent([a], undefined), undefined, now)).toBe(now + 30_000);
    const sent = afterSend(receiver, key, labels, [a], now);
    expect(sent.sent).toEqual({ a: "firing" });
    // Unchanged: nothing until the repeat interval.
    expect(nextDue(receiver, groupContent([a], sent), sent, now + 60_000)).toBe(null);
    expect(nextDue(receiver, groupContent([a], sent), sent, now + 4 * 3_600_000)).toBe(now + 4 * 3_600_000);
    // A new alert in the group: groupInterval after the last send.
    const b = inst("b", "firing");
    expect(nextDue(receiver, groupContent([a, b], sent), sent, now + 60_000)).toBe(now + 300_000);
    expect(nextDue(receiver, groupContent([a, b], sent), sent, now + 400_000)).toBe(now + 400_000);
    // A resolved alert that was sent firing is sent once as resolved, then leaves the group.
    const resolved = inst("a", "resolved");
    const content = groupContent([resolved], sent);
    expect(content).toEqual([resolved]);
    const after = afterSend(receiver, key, labels, content, now + 300_000);
    expect(after.sent).toEqual({});
    expect(groupContent([resolved], after)).toEqual([]);
    expect(nextDue(receiver, [], after, now + 900_000)).toBe(null);
  });

  it("routes to the escalation receiver once the alert fired `after` ago", () => {
    const rule = { receiver: "rcv_1", escalation: { receiver: "rcv_2", afterMs: 60_000 } } as AlertRule;
    expect(routesOf(inst("a", "firing", 0), rule, 59_999)).toEqual(["rcv_1"]);
    expect(routesOf(inst("a", "firing", 0), rule, 60_000)).toEqual(["rcv_1", "rcv_2"]);
    expect(routesOf(inst("a", "pending", null), rule, 600_000)).toEqual(["rcv_1"]);
  });
});

describe("retry backoff and durations", () => {
  it("doubles from the base up to the cap, with jitter of ±50%", () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(n, 1000, 5000, 0.5))).toEqual([1000, 2000, 4000, 5000]);
    expect(backoffMs(1, 1000, 5000, 0)).toBe(500);
    expect(backoffMs(2, 1000, 5000, 0.999)).toBe(2998);
  });

  it("parses and prints durations", () => {
    expect(["30s", "5m", "1h", "1d", "250ms", 1500, "0s"].map(parseAlertDuration)).toEqual([
      30_000,
      300_000,
      3_600_000,
      86_400_000,
      250,
      1500,
      0,
    ]);
    expect(["", "5 m", "-1s", "1w", 1.5, -1, null].map(parseAlertDuration)).toEqual([
      null,
      null,
      null,
      null,
      null,
      null,
      null,
    ]);
    expect([0, 1500, 90_000, 120_000, 86_400_000].map(formatDuration)).toEqual([
      "0s",
      "1500ms",
      "90s",
      "2m",
      "1d",
    ]);
  });
});
