/** The alerting API's silences and history. */
import { describe, expect, it } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";
import { apiError as error, iso, json, NOW } from "../testing/alert-fixture.ts";

const ISO = iso(NOW);

describe("alerting API: silences and history", () => {
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
});
