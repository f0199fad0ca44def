/**
 * Silence matching is cached per label set: through the API, an alert is
 * silenced and unsilenced exactly when a silence is created, expired
 * (DELETE), or starts and ends with time, as matching every silence at every
 * call would say.
 */
import { describe, expect, it } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";
import { ENV, minute, NOW, post } from "../testing/alert-fixture.ts";

const RULE = {
  name: "Hot",
  eventType: "temperature",
  aggregate: "max",
  window: "1m",
  groupBy: "device",
  op: ">",
  threshold: 30,
  labels: { team: "ops" },
};

describe("silences over the API", () => {
  it("silence and unsilence alerts at once on create, DELETE, start and end", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      await post(f, "/v1/alerts/rules", RULE);
      await minute(f, clock, { "s-1": 40, "s-2": 40, "t-1": 40 });
      const silenced = async () =>
        Object.fromEntries(
          (await (await f.request("/v1/alerts")).json()).alerts.map((
            a: { labels: { deviceId: string }; silenced: boolean },
          ) => [a.labels.deviceId, a.silenced]),
        );
      expect(await silenced()).toEqual({ "s-1": false, "s-2": false, "t-1": false });
      const s = await post(f, "/v1/alerts/silences", {
        matchers: [{ name: "deviceId", value: "s-.*", isRegex: true }, { name: "team", value: "ops" }],
        endsAt: NOW + 10 * 60_000,
        comment: "maintenance",
      });
      expect(await silenced()).toEqual({ "s-1": true, "s-2": true, "t-1": false });
      const later = await post(f, "/v1/alerts/silences", {
        matchers: [{ name: "deviceId", value: "t-1" }],
        startsAt: NOW + 60_000,
        endsAt: NOW + 120_000,
        comment: "next minute",
      });
      expect(await silenced()).toEqual({ "s-1": true, "s-2": true, "t-1": false });
      clock.advance(60_000);
      expect(await silenced()).toEqual({ "s-1": true, "s-2": true, "t-1": true });
      expect((await f.request(`/v1/alerts/silences/${s.id}`, { method: "DELETE" })).status).toBe(204);
      expect(await silenced()).toEqual({ "s-1": false, "s-2": false, "t-1": true });
      clock.advance(60_000);
      expect(await silenced()).toEqual({ "s-1": false, "s-2": false, "t-1": false });
      expect(later.id).toMatch(/^sil_/);
    }, { clock, env: ENV });
  });
});
