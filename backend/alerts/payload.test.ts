import { describe, expect, it } from "vitest";
import { utf8Length, type WebhookAlert, webhookPayload } from "./payload.ts";

const alert = (fingerprint: string, summary: string): WebhookAlert => ({
  status: "firing",
  labels: { alertname: "A", deviceId: fingerprint },
  annotations: { summary },
  startsAt: "2026-11-22T12:00:00.000Z",
  endsAt: "0001-01-01T00:00:00Z",
  generatorURL: "http://127.0.0.1:8000/v1/alerts/rules/rul_0000000000000001",
  fingerprint,
});

const payload = (alerts: WebhookAlert[], maxBytes: number) =>
  webhookPayload({
    groupKey: "{}/rcv_0000000000000001:{}",
    receiver: "r",
    groupLabels: {},
    externalURL: "http://127.0.0.1:8000",
    alerts,
    maxAlerts: 100,
    maxBytes,
  });

describe("webhookPayload size limit", () => {
  it("counts UTF-8 bytes, not characters", () => {
    // 600 characters of "ü" are 1,200 bytes: two such alerts fit 3,500 characters, not 3,500 bytes.
    const wide = [alert("00000000000000a1", "ü".repeat(600)), alert("00000000000000a2", "ü".repeat(600))];
    const both = JSON.stringify(payload(wide, 1e9));
    expect(both.length).toBeLessThan(3500);
    expect(new TextEncoder().encode(both).length).toBeGreaterThan(3500);
    const cut = payload(wide, 3500);
    expect(cut.alerts.map((a) => a.fingerprint)).toEqual(["00000000000000a1"]);
    expect(cut.truncatedAlerts).toBe(1);
    expect(new TextEncoder().encode(JSON.stringify(cut)).length).toBeLessThanOrEqual(3500);
    // The same number of ASCII characters fits.
    const narrow = [alert("00000000000000a1", "u".repeat(600)), alert("00000000000000a2", "u".repeat(600))];
    expect(payload(narrow, 3500)).toMatchObject({ truncatedAlerts: 0, alerts: narrow });
  });

  it("utf8Length equals the encoded length for 1- to 4-byte characters and lone surrogates", () => {
    for (const text of ["", "abc", "ü€", "a😀b", "\ud800x", "x\udc00", "😀😀\ud83d"]) {
      expect([text, utf8Length(text)]).toEqual([text, new TextEncoder().encode(text).length]);
    }
  });
});
