import { describe, expect, it } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";
import type { AppFixture } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const json = (v: unknown) => JSON.stringify(v);
const ISO = new Date(NOW).toISOString();

async function readKey(f: AppFixture): Promise<string> {
  const res = await f.request("/v1/admin/keys", {
    method: "POST",
    body: json({ name: "reader", scopes: ["read"] }),
  });
  return (await res.json()).data.key;
}

async function receiver(f: AppFixture, over: Record<string, unknown> = {}) {
  const res = await f.request("/v1/alerts/receivers", {
    method: "POST",
    body: json({ name: "ops-webhook", url: "http://127.0.0.1:9/hook", ...over }),
  });
  expect(res.status).toBe(201);
  return await res.json();
}

const ruleBody = (receiverId: string | null, over: Record<string, unknown> = {}) => ({
  name: "HighTemp",
  eventType: "temperature",
  filter: { metadata: { site: "berlin" } },
  aggregate: "avg",
  window: "1m",
  groupBy: "device",
  op: ">",
  threshold: 30,
  for: "2m",
  severity: "critical",
  labels: { team: "ops" },
  annotations: { summary: "{{ $labels.deviceId }} is {{ $value }}" },
  receiver: receiverId,
  ...over,
});

const error = (message: string, errors: { field: string; message: string }[] = []) => ({
  status: "error",
  message,
  errors,
});

describe("alerting API: receivers and rules", () => {
  it("creates, reads, replaces and deletes a receiver and a rule, and audits each change", async () => {
    await withApp(async (f) => {
      const rcv = await receiver(f, { groupWait: "10s", groupBy: ["alertname", "deviceId"] });
      expect(rcv).toEqual({
        id: expect.stringMatching(/^rcv_[0-9a-f]{16}$/),
        name: "ops-webhook",
        url: "http://127.0.0.1:9/hook",
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

  it("refuses receivers with non-http URLs, bad durations and bodies that are not JSON or too large", async () => {
    await withApp(async (f) => {
      const bad = await f.request("/v1/alerts/receivers", {
        method: "POST",
        body: json({ name: "x", url: "file:///etc/passwd", groupWait: "soon", groupBy: "alertname" }),
      });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual(error("Invalid receiver", [
        { field: "url", message: "url must be an absolute http:// or https:// URL" },
        {
          field: "groupWait",
          message:
            'groupWait must be a duration like "30s", "5m", "1h" (or integer ms) from 0 ms to 604800000 ms',
        },
        { field: "groupBy", message: "groupBy must be an array of at most 16 label names" },
      ]));
      const creds = await f.request("/v1/alerts/receivers", {
        method: "POST",
        body: json({ name: "x", url: "https://user:pw@example.com/" }),
      });
      expect(await creds.json()).toEqual(error("Invalid receiver", [
        { field: "url", message: "url must not carry credentials" },
      ]));
      const notJson = await f.request("/v1/alerts/receivers", { method: "POST", body: "{", headers: {} });
      expect(notJson.status).toBe(400);
      expect(await notJson.json()).toEqual(
        error("Request body is not valid JSON", [{ field: "body", message: "malformed JSON" }]),
      );
      const text = await f.request("/v1/alerts/receivers", {
        method: "POST",
        body: "{}",
        headers: { "content-type": "text/plain" },
      });
      expect(text.status).toBe(415);
      const big = await f.request("/v1/alerts/receivers", {
        method: "POST",
        body: json({ name: "x".repeat(70_000) }),
      });
      expect(big.status).toBe(413);
      expect(await big.json()).toEqual(error("Body larger than 65536 bytes", [
        { field: "body", message: "Body larger than 65536 bytes" },
      ]));
      expect(await f.server.store.alerts.listReceivers()).toEqual([]);
    });
  });

  it("needs a key (401), admin for every change and for receivers (403), and read for reads", async () => {
    await withApp(async (f) => {
      const reader = await readKey(f);
      const missing = await f.request("/v1/alerts/rules", { key: null });
      expect(missing.status).toBe(401);
      expect(await missing.json()).toEqual(
        error("Missing API key: send x-api-key or Authorization: Bearer <key>"),
      );
      expect((await f.request("/v1/alerts", { key: "nope-nope-nope-nope" })).status).toBe(401);
      for (
        const [method, path] of [
          ["POST", "/v1/alerts/rules"],
          ["PUT", "/v1/alerts/rules/rul_0000000000000000"],
          ["DELETE", "/v1/alerts/rules/rul_0000000000000000"],
          ["GET", "/v1/alerts/receivers"],
          ["POST", "/v1/alerts/receivers"],
          ["PUT", "/v1/alerts/receivers/rcv_0000000000000000"],
          ["DELETE", "/v1/alerts/receivers/rcv_0000000000000000"],
          ["POST", "/v1/alerts/silences"],
          ["DELETE", "/v1/alerts/silences/sil_0000000000000000"],
        ]
      ) {
        const res = await f.request(path, {
          method,
          key: reader,
          body: method === "GET" || method === "DELETE" ? undefined : "{}",
        });
        expect([method, path, res.status]).toEqual([method, path, 403]);
        expect(await res.json()).toEqual(error("API key lacks the 'admin' scope"));
      }
      for (const path of ["/v1/alerts", "/v1/alerts/rules", "/v1/alerts/silences", "/v1/alerts/history"]) {
        expect([path, (await f.request(path, { key: reader })).status]).toEqual([path, 200]);
      }
    });
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

describe("alerting API: silences, alerts, history, dry run", () => {
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
        { field: "matchers.0.value", message: "value is not a valid regular expression" },
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
