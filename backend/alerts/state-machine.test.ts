import { describe, expect, it } from "vitest";
import { evaluateRule, type Reading } from "./rule-eval.ts";
import type { AlertInstance, AlertRule } from "./model.ts";
import { fingerprint } from "./labels.ts";

const T0 = Date.parse("2026-11-22T12:00:00.000Z");
const rule = (over: Partial<AlertRule> = {}): AlertRule => ({
  id: "rul_0000000000000001",
  name: "HighTemp",
  kind: "threshold",
  eventType: "temperature",
  filter: null,
  aggregate: "avg",
  windowMs: 60_000,
  groupBy: "device",
  metric: null,
  op: ">",
  threshold: 30,
  forMs: 120_000,
  keepFiringForMs: 0,
  severity: "critical",
  labels: { team: "ops" },
  annotations: { summary: "{{ $labels.deviceId }} is {{ $value }}" },
  receiver: null,
  escalation: null,
  enabled: true,
  createdAt: T0,
  updatedAt: T0,
  ...over,
});

/** Runs evaluations one minute apart with the given values for device s-1; returns states and changes. */
function run(r: AlertRule, values: (number | null)[]) {
  let current = new Map<string, AlertInstance>();
  const states: string[] = [];
  const changes: string[] = [];
  values.forEach((value, i) => {
    const readings: Reading[] = [{ deviceId: "s-1", value }];
    const ev = evaluateRule(r, T0 + i * 60_000, readings, current, 100);
    current = new Map(current);
    for (const u of ev.updated) current.set(u.fingerprint, u);
    for (const fp of ev.dropped) current.delete(fp);
    for (const c of ev.changes) changes.push(`${i}:${c.from}->${c.to}`);
    states.push([...current.values()][0]?.state ?? "inactive");
  });
  return { states, changes, current };
}

describe("alert state machine", () => {
  it("goes pending when the threshold is crossed and fires once it held for `for`", () => {
    const { states, changes, current } = run(rule(), [25, 31, 32, 33, 34]);
    expect(states).toEqual(["inactive", "pending", "pending", "firing", "firing"]);
    expect(changes).toEqual(["1:inactive->pending", "3:pending->firing"]);
    const inst = [...current.values()][0];
    expect(inst.activeAt).toBe(T0 + 60_000);
    expect(inst.firedAt).toBe(T0 + 180_000);
    expect(inst.annotations).toEqual({ summary: "s-1 is 34" });
    expect(inst.labels).toEqual({
      alertname: "HighTemp",
      severity: "critical",
      team: "ops",
      deviceId: "s-1",
    });
  });

  it("resolves at the first evaluation below the threshold without keepFiringFor", () => {
    const { states, changes } = run(rule({ forMs: 0 }), [31, 29, 28]);
    expect(states).toEqual(["firing", "resolved", "resolved"]);
    expect(changes).toEqual(["0:inactive->firing", "1:firing->resolved"]);
  });

  it("keeps firing for keepFiringFor after the condition stopped holding", () => {
    const { states, changes } = run(rule({ forMs: 0, keepFiringForMs: 120_000 }), [31, 20, 20, 20, 20]);
    expect(states).toEqual(["firing", "firing", "firing", "resolved", "resolved"]);
    expect(changes).toEqual(["0:inactive->firing", "3:firing->resolved"]);
  });

  it("never fires a flapping value that never holds for `for`, and forgets the pending instance", () => {
    const { states, changes } = run(rule(), [31, 29, 31, 29, 31, 29]);
    expect(states).toEqual(["pending", "inactive", "pending", "inactive", "pending", "inactive"]);
    expect(changes).toEqual([
      "0:inactive->pending",
      "1:pending->inactive",
      "2:inactive->pending",
      "3:pending->inactive",
      "4:inactive->pending",
      "5:pending->inactive",
    ]);
  });

  it("keepFiringFor rides out a flapping value, and a resolved alert can fire again", () => {
    const r = rule({ forMs: 60_000, keepFiringForMs: 60_000 });
    const { changes } = run(r, [31, 31, 29, 31, 29, 29, 29, 31, 31]);
    expect(changes).toEqual([
      "0:inactive->pending",
      "1:pending->firing",
      "5:firing->resolved",
      "7:resolved->pending",
      "8:pending->firing",
    ]);
  });

  it("treats no data as not holding for threshold rules, and as zero events for nodata rules", () => {
    expect(run(rule({ forMs: 0 }), [31, null]).changes).toEqual(["0:inactive->firing", "1:firing->resolved"]);
    const nodata = rule({ kind: "nodata", aggregate: "count", op: "<", threshold: 1, forMs: 60_000 });
    expect(run(nodata, [5, null, null, 3]).changes).toEqual([
      "1:inactive->pending",
      "2:pending->firing",
      "3:firing->resolved",
    ]);
  });

  it("resolves instances whose series disappeared and refuses label sets beyond the limit", () => {
    const r = rule({ forMs: 0 });
    const first = evaluateRule(
      r,
      T0,
      [{ deviceId: "a", value: 40 }, { deviceId: "b", value: 40 }],
      new Map(),
      1,
    );
    expect(first.updated.map((i) => i.labels.deviceId)).toEqual(["a"]);
    expect(first.refused).toBe(1);
    const current = new Map(first.updated.map((i) => [i.fingerprint, i]));
    const second = evaluateRule(r, T0 + 60_000, [], current, 1);
    expect(second.changes.map((c) => `${c.instance.labels.deviceId}:${c.from}->${c.to}`)).toEqual([
      "a:firing->resolved",
    ]);
    expect(second.updated[0].resolvedAt).toBe(T0 + 60_000);
  });
  it("labels only the series that change something: none of a rule without instances that hold no condition", () => {
    const r = rule({ forMs: 0 });
    const cache = new Map();
    const readings = [{ deviceId: "a", value: 20 }, { deviceId: "b", value: 40 }, {
      deviceId: "c",
      value: null,
    }];
    const first = evaluateRule(r, T0, readings, new Map(), 10, cache);
    expect(first.updated.map((i) => `${i.labels.deviceId}:${i.state}`)).toEqual(["b:firing"]);
    expect([...cache.keys()]).toEqual(["b"]);
    // With an instance, every series is looked at again (a series back under the threshold resolves it).
    const current = new Map(first.updated.map((i) => [i.fingerprint, i]));
    const second = evaluateRule(
      r,
      T0 + 60_000,
      [{ deviceId: "a", value: 20 }, { deviceId: "b", value: 20 }],
      current,
      10,
      cache,
    );
    expect(second.changes.map((c) => `${c.instance.labels.deviceId}:${c.from}->${c.to}`)).toEqual([
      "b:firing->resolved",
    ]);
    expect([...cache.keys()].sort()).toEqual(["a", "b"]);
  });
});

describe("fingerprint", () => {
  it("is 16 hex digits, independent of key order and different for different label sets", () => {
    const a = fingerprint({ alertname: "HighTemp", deviceId: "s-1", severity: "critical" });
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprint({ severity: "critical", deviceId: "s-1", alertname: "HighTemp" })).toBe(a);
    expect(fingerprint({ alertname: "HighTemp", deviceId: "s-2", severity: "critical" })).not.toBe(a);
    // Separators keep {a:"bc"} and {ab:"c"} apart.
    expect(fingerprint({ a: "bc" })).not.toBe(fingerprint({ ab: "c" }));
  });

  it("is stable across releases (the value receivers may have stored)", () => {
    expect(fingerprint({})).toBe("cbf29ce484222325");
    expect(fingerprint({ alertname: "HighTemp", deviceId: "s-1", severity: "critical" })).toBe(
      "ac612b94219c6858",
    );
    expect(fingerprint({ alertname: "Ünïcode 😀", team: "ops" })).toBe("b2022f1d199bd73e");
    // The definition, in BigInt arithmetic, over label sets with ASCII, Latin-1, astral and long values.
    const reference = (labels: Record<string, string>) => {
      let h = 0xcbf29ce484222325n;
      for (const name of Object.keys(labels).sort()) {
        for (const part of [name, labels[name]]) {
          for (const byte of new TextEncoder().encode(part)) {
            h = ((h ^ BigInt(byte)) * 0x100000001b3n) & (2n ** 64n - 1n);
          }
          h = ((h ^ 0xffn) * 0x100000001b3n) & (2n ** 64n - 1n);
        }
      }
      return h.toString(16).padStart(16, "0");
    };
    const values = ["", "s-1", "x😀y", "abé", "n".repeat(1024), "ÿ\u0000\u007f\u0080", "日本語"];
    for (const a of values) {
      for (const b of values) {
        const labels = { alertname: a, deviceId: b, team: a + b };
        expect([labels, fingerprint(labels)]).toEqual([labels, reference(labels)]);
      }
    }
    expect(fingerprint({ alertname: "HighTemp", deviceId: "s-1" })).toBe(
      fingerprint({ deviceId: "s-1", alertname: "HighTemp" }),
    );
  });
});
