/** The alerting API's silences, history and dry run. */
import { describe, expect, it } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";
import { apiError as error, iso, json, NOW, ruleBody } from "../testing/alert-fixture.ts";

const ISO = iso(NOW);

describe("alerting API: silences, history, dry run", () => {
  it("creates, lists and expires silences; refuses bad matchers and times", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const res = await f.request("/v1/alerts/silences", {
        method: "POST",
        body: json({
          matchers: [{ name: "deviceId", value: "s-.*", isRegex: true }, {
            name: "team",
            value: "dev",
            isEqual: false,
          }],
          endsAt: "2026-11-22T14:00:00.000Z",
          comment: "maintenance",
        }),
      });
      expect(res.status).toBe(201);
      const silence = await res.json();
      expect(silence).toEqual({
        id: expect.stringMatching(/^sil_[0-9a-f]{16}$/),
        matchers: [
          { name: "deviceId", value: "s-.*", isRegex: true, isEqual: true },
          { name: "team", value: "dev", isRegex: false, isEqual: false },
        ],
        startsAt: ISO,
        endsAt: "2026-11-22T14:00:00.000Z",
        createdBy: expect.stringMatching(/^key_/),
        comment: "maintenance",
        status: "active",
      });
      clock.advance(60_000);
      expect((await f.request(`/v1/alerts/silences/${silence.id}`, { method: "DELETE" })).status).toBe(204);
      expect(await (await f.request("/v1/alerts/silences")).json()).toEqual({
        silences: [{ ...silence, endsAt: new Date(NOW + 60_000).toISOString(), status: "expired" }],
      });
      expect((await f.request("/v1/alerts/silences/sil_0000000000000000", { method: "DELETE" })).status).toBe(
        404,
      );
      const bad = await f.request("/v1/alerts/silences", {
        method: "POST",
        body: json({
          matchers: [{ name: "x", value: "(", isRegex: true }, { name: "1x", value: "a" }],
          endsAt: NOW - 1,
        }),
      });
      expect(await bad.json()).toEqual(error("Invalid silence", [
        {
          field: "matchers.0.value",
          message: "matcher x: not a supported regular expression: missing ) at position 1",
        },
        {
          field: "matchers.1",
          message: "a matcher is {name, value, isRegex?, isEqual?} with a label name and a string value",
        },
        { field: "endsAt", message: "endsAt must be after startsAt and in the future" },
      ]));
    }, { clock });
  });

  it("validates history parameters and pages through history", async () => {
    await withApp(async (f) => {
      const bad = await f.request("/v1/alerts/history?limit=0&before=x&fingerprint=zz&ruleId=abc");
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual(error("Invalid query parameters", [
        { field: "limit", message: "limit must be an integer from 1 to 1000" },
        { field: "before", message: "before must be the next cursor of a previous page" },
        { field: "fingerprint", message: "fingerprint must be 16 hex digits" },
        { field: "ruleId", message: "ruleId must be a rule id (rul_ and 16 hex digits)" },
      ]));
      const labels = { alertname: "A" };
      await f.server.store.alerts.applyAlertChanges({
        instances: [],
        outbox: [],
        transitions: [1, 2, 3].map((i) => ({
          at: NOW + i,
          ruleId: "rul_0000000000000001",
          fingerprint: "00000000000000aa",
          labels,
          from: "inactive" as const,
          to: "pending" as const,
          value: i,
        })),
      });
      const page1 = await (await f.request("/v1/alerts/history?limit=2&ruleId=rul_0000000000000001")).json();
      expect(page1.history.map((t: { value: number }) => t.value)).toEqual([3, 2]);
      expect(page1.history[0]).toEqual({
        seq: expect.any(Number),
        at: new Date(NOW + 3).toISOString(),
        ruleId: "rul_0000000000000001",
        fingerprint: "00000000000000aa",
        labels,
        from: "inactive",
        to: "pending",
        value: 3,
      });
      const page2 = await (await f.request(`/v1/alerts/history?limit=2&before=${page1.next}`)).json();
      expect(page2).toEqual({ history: [expect.objectContaining({ value: 1 })], next: null });
      expect(await (await f.request("/v1/alerts/history?fingerprint=00000000000000bb")).json()).toEqual({
        history: [],
        next: null,
      });
    });
  });

  it("dry-runs a rule over stored events and reports when it would have fired and resolved", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      // One event per second for device s-1: 20 for 10 s, 40 for 10 s, 20 for 10 s.
      const events = Array.from({ length: 30 }, (_, i) => ({
        deviceId: "s-1",
        eventType: "temperature",
        value: i >= 10 && i < 20 ? 40 : 20,
        timestamp: NOW - 60_000 + i * 1000,
      }));
      expect((await f.request("/v1/events", { method: "POST", body: json(events) })).status).toBe(202);
      const res = await f.request("/v1/alerts/rules/dry-run", {
        method: "POST",
        body: json({
          rule: ruleBody(null, { filter: null, window: "2s", for: "3s", annotations: {} }),
          from: NOW - 60_000,
          to: new Date(NOW - 20_000).toISOString(),
        }),
      });
      expect(res.status).toBe(200);
      const fp = (await res.clone().json()).transitions[0]?.fingerprint;
      const labels = { alertname: "HighTemp", severity: "critical", team: "ops", deviceId: "s-1" };
      const at = (s: number) => new Date(NOW - 60_000 + s * 1000).toISOString();
      // avg over 2 s exceeds 30 from the window ending at 12 s ([10,12) all 40; [9,11) is 30: not > 30).
      expect(await res.json()).toEqual({
        evaluatedEvery: "1s",
        truncated: false,
        transitions: [
          { at: at(12), fingerprint: fp, labels, from: "inactive", to: "pending", value: 40 },
          { at: at(15), fingerprint: fp, labels, from: "pending", to: "firing", value: 40 },
          { at: at(21), fingerprint: fp, labels, from: "firing", to: "resolved", value: 30 },
        ],
      });
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
    }, { clock });
  });
});
