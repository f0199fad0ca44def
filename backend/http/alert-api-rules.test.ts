/** The alerting API's rules: CRUD with audit, rule kinds, validation and limits. */
import { describe, expect, it } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";
import { apiError as error, iso, json, NOW, receiver, ruleBody } from "../testing/alert-fixture.ts";

const ISO = iso(NOW);

describe("alerting API: rules", () => {
  it("creates, reads, replaces and deletes a receiver and a rule, and audits each change", async () => {
    await withApp(async (f) => {
      const rcv = await receiver(f, { groupWait: "10s", groupBy: ["alertname", "deviceId"] });
      expect(rcv).toEqual({
        id: expect.stringMatching(/^rcv_[0-9a-f]{16}$/),
        name: "ops-webhook",
        url: "http://hooks.example.test:9/hook",
        groupWait: "10s",
        groupInterval: "5m",
        repeatInterval: "4h",
        groupBy: ["alertname", "deviceId"],
        createdAt: ISO,
        updatedAt: ISO,
      });
      const created = await f.request("/v1/alerts/rules", { method: "POST", body: json(ruleBody(rcv.id)) });
      expect(created.status).toBe(201);
      const rule = await created.json();
      expect(rule).toEqual({
        id: expect.stringMatching(/^rul_[0-9a-f]{16}$/),
        name: "HighTemp",
        kind: "threshold",
        eventType: "temperature",
        filter: { metadata: { site: "berlin" } },
        aggregate: "avg",
        window: "1m",
        groupBy: "device",
        metric: null,
        op: ">",
        threshold: 30,
        for: "2m",
        keepFiringFor: "0s",
        severity: "critical",
        labels: { team: "ops" },
        annotations: { summary: "{{ $labels.deviceId }} is {{ $value }}" },
        receiver: rcv.id,
        escalation: null,
        enabled: true,
        createdAt: ISO,
        updatedAt: ISO,
        status: { evaluatedEvery: "1m", lastEvaluatedAt: null, series: 0, truncated: false },
      });
      expect(await (await f.request(`/v1/alerts/rules/${rule.id}`)).json()).toEqual(rule);
      expect(await (await f.request("/v1/alerts/rules")).json()).toEqual({ rules: [rule] });

      const put = await f.request(`/v1/alerts/rules/${rule.id}`, {
        method: "PUT",
        body: json({ ...rule, threshold: 35, for: 60_000, escalation: { receiver: rcv.id, after: "30m" } }),
      });
      expect(put.status).toBe(200);
      const replaced = await put.json();
      expect(replaced).toEqual({
        ...rule,
        threshold: 35,
        for: "1m",
        escalation: { receiver: rcv.id, after: "30m" },
      });

      const inUse = await f.request(`/v1/alerts/receivers/${rcv.id}`, { method: "DELETE" });
      expect(inUse.status).toBe(409);
      expect(await inUse.json()).toEqual(error(`Receiver ${rcv.id} is used by 1 rule(s): ${rule.id}`, [{
        field: "receiver",
        message: `Receiver ${rcv.id} is used by 1 rule(s): ${rule.id}`,
      }]));

      const putRcv = await f.request(`/v1/alerts/receivers/${rcv.id}`, {
        method: "PUT",
        body: json({ name: "ops-2", url: "https://hooks.example.com/x", repeatInterval: "1h" }),
      });
      expect(await putRcv.json()).toEqual({
        ...rcv,
        name: "ops-2",
        url: "https://hooks.example.com/x",
        groupWait: "30s",
        repeatInterval: "1h",
        groupBy: ["alertname"],
      });

      expect((await f.request(`/v1/alerts/rules/${rule.id}`, { method: "DELETE" })).status).toBe(204);
      expect((await f.request(`/v1/alerts/rules/${rule.id}`)).status).toBe(404);
      expect((await f.request(`/v1/alerts/receivers/${rcv.id}`, { method: "DELETE" })).status).toBe(204);
      expect(await (await f.request("/v1/alerts/receivers")).json()).toEqual({ receivers: [] });

      const audit = await (await f.request("/v1/admin/audit")).json();
      expect(
        audit.data.entries.map((e: { action: string; target: string }) => [e.action, e.target]).reverse(),
      )
        .toEqual([
          ["alert_receiver.created", rcv.id],
          ["alert_rule.created", rule.id],
          ["alert_rule.updated", rule.id],
          ["alert_receiver.updated", rcv.id],
          ["alert_rule.deleted", rule.id],
          ["alert_receiver.deleted", rcv.id],
        ]);
      // Everything persisted: the store holds no rules or receivers any more.
      expect(await f.server.store.alerts.listRules()).toEqual([]);
    }, { clock: new FakeClock(NOW) });
  });

  it("accepts nodata and system rules with their own fields", async () => {
    await withApp(async (f) => {
      const nodata = await f.request("/v1/alerts/rules", {
        method: "POST",
        body: json({
          name: "Silent",
          kind: "nodata",
          eventType: "heartbeat",
          window: "5m",
          groupBy: "device",
        }),
      });
      expect(nodata.status).toBe(201);
      expect(await nodata.json()).toMatchObject({
        kind: "nodata",
        aggregate: "count",
        op: "<",
        threshold: 1,
        window: "5m",
      });
      const system = await f.request("/v1/alerts/rules", {
        method: "POST",
        body: json({
          name: "Errors",
          kind: "system",
          metric: "error_rate",
          window: "1m",
          op: ">",
          threshold: 0.05,
        }),
      });
      expect(system.status).toBe(201);
      expect(await system.json()).toMatchObject({
        kind: "system",
        eventType: null,
        aggregate: null,
        metric: "error_rate",
      });
    }, { clock: new FakeClock(NOW) });
  });

  it("refuses bad rule bodies with every bad field, and stores nothing", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v1/alerts/rules", {
        method: "POST",
        body: json({
          name: "",
          eventType: "temperature",
          aggregate: "median",
          window: "90x",
          op: "=>",
          threshold: "30",
          for: "-1m",
          severity: "fatal",
          labels: { alertname: "x", "bad-name": "y" },
          receiver: "rcv_0000000000000000",
          colour: "red",
        }),
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual(error("Invalid alert rule", [
        { field: "colour", message: "unknown field(s): colour" },
        { field: "name", message: "name must be a non-empty string" },
        {
          field: "aggregate",
          message: "aggregate must be one of avg, min, max, sum, count, last, p50, p90, p95, p99, distinct",
        },
        {
          field: "window",
          message:
            'window must be a duration like "30s", "5m", "1h" (or integer ms) from 1000 ms to 604800000 ms',
        },
        { field: "op", message: "op must be one of >, >=, <, <=, ==, !=" },
        { field: "threshold", message: "threshold must be a finite number" },
        {
          field: "for",
          message: 'for must be a duration like "30s", "5m", "1h" (or integer ms) from 0 ms to 604800000 ms',
        },
        { field: "severity", message: "severity must be one of critical, warning, info" },
        { field: "labels.bad-name", message: "names must match [A-Za-z_][A-Za-z0-9_]* (at most 64)" },
        { field: "labels.alertname", message: "alertname is set by the server and cannot be a rule label" },
      ]));
      const unknown = await f.request("/v1/alerts/rules", {
        method: "POST",
        body: json(
          ruleBody("rcv_0000000000000000", { escalation: { receiver: "rcv_1111111111111111", after: "1h" } }),
        ),
      });
      expect(unknown.status).toBe(400);
      expect(await unknown.json()).toEqual(error("Invalid alert rule", [
        { field: "receiver", message: "unknown receiver rcv_0000000000000000" },
        { field: "escalation.receiver", message: "unknown receiver rcv_1111111111111111" },
      ]));
      const fractional = await f.request("/v1/alerts/rules", {
        method: "POST",
        body: json(ruleBody(null, { window: "1500ms" })),
      });
      expect(await fractional.json()).toEqual(error("Invalid alert rule", [
        { field: "window", message: "window must be a whole multiple of 1000 ms (the finest resolution)" },
      ]));
      const system = await f.request("/v1/alerts/rules", {
        method: "POST",
        body: json({
          name: "S",
          kind: "system",
          metric: "cpu",
          eventType: "x",
          window: "1m",
          op: ">",
          threshold: 1,
        }),
      });
      expect(await system.json()).toEqual(error("Invalid alert rule", [
        { field: "eventType", message: "eventType is not used by system rules" },
        { field: "metric", message: "metric must be one of error_rate, overload" },
      ]));
      expect(await f.server.store.alerts.listRules()).toEqual([]);
      expect((await f.request("/v1/alerts/rules/rul_0000000000000000")).status).toBe(404);
      expect(await (await f.request("/v1/alerts/rules/rul_0000000000000000")).json()).toEqual(
        error("No alert rule rul_0000000000000000"),
      );
    }, { clock: new FakeClock(NOW) });
  });

  it("enforces the rule, receiver, silence and label limits", async () => {
    await withApp(async (f) => {
      await receiver(f);
      const second = await f.request("/v1/alerts/receivers", {
        method: "POST",
        body: json({ name: "b", url: "http://x.test/" }),
      });
      expect(second.status).toBe(409);
      expect(await second.json()).toEqual(error("At most 1 receivers; delete one first", [
        { field: "receivers", message: "At most 1 receivers; delete one first" },
      ]));
      const labels = await f.request("/v1/alerts/rules", {
        method: "POST",
        body: json(ruleBody(null, { labels: { a: "1", b: "2", c: "3" } })),
      });
      expect(await labels.json()).toEqual(error("Invalid alert rule", [
        { field: "labels", message: "labels may hold at most 2 entries" },
      ]));
      expect((await f.request("/v1/alerts/rules", { method: "POST", body: json(ruleBody(null)) })).status)
        .toBe(201);
      const over = await f.request("/v1/alerts/rules", { method: "POST", body: json(ruleBody(null)) });
      expect(over.status).toBe(409);
      expect((await over.json()).message).toBe("At most 1 alert rules; delete one first");
      const silence = { matchers: [{ name: "deviceId", value: "s-1" }], endsAt: NOW + 3_600_000 };
      expect((await f.request("/v1/alerts/silences", { method: "POST", body: json(silence) })).status).toBe(
        201,
      );
      const tooMany = await f.request("/v1/alerts/silences", { method: "POST", body: json(silence) });
      expect(tooMany.status).toBe(409);
      const matchers = await f.request("/v1/alerts/silences", {
        method: "POST",
        body: json({ ...silence, matchers: [silence.matchers[0], silence.matchers[0], silence.matchers[0]] }),
      });
      expect(await matchers.json()).toEqual(error("Invalid silence", [
        { field: "matchers", message: "matchers must be an array of 1 to 2 matchers" },
      ]));
    }, {
      clock: new FakeClock(NOW),
      env: {
        ALERTS_MAX_RULES: "1",
        ALERTS_MAX_RECEIVERS: "1",
        ALERTS_MAX_SILENCES: "1",
        ALERTS_MAX_LABELS: "2",
      },
    });
  });
});
