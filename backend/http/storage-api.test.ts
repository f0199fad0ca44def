import { describe, expect, it } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";
import type { StoredEvent } from "../../shared/event.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** 60 events over three UTC days, with every kind of metadata value and payload. */
function sampleEvents(withData: boolean) {
  return Array.from({ length: 60 }, (_, i) => ({
    id: `ev-${String(i).padStart(3, "0")}`,
    deviceId: i % 3 === 0 ? 'dev, "quoted"' : `dev-${i % 4}`,
    eventType: i % 2 ? "temperature" : "humidity",
    ...(i % 5 === 0 ? {} : { value: i * 1.25 - 20 }),
    timestamp: NOW - 2 * DAY + i * HOUR - 12 * HOUR, // crosses two midnights
    ...(i % 7 === 0 ? {} : { metadata: { site: i % 2 ? "berlin" : "paris", floor: i % 4 } }),
    ...(withData && i % 3 === 1
      ? { data: { n: i, nested: { list: [1, "two", null] }, text: 'a,b "c" ü' } }
      : {}),
  }));
}

const canonical = (e: StoredEvent) => ({
  id: e.id,
  deviceId: e.deviceId,
  eventType: e.eventType,
  value: e.value,
  timestamp: e.timestamp,
  metadata: e.metadata,
  data: e.data,
});

async function allEvents(
  store: { listEvents: (q: { limit: number; order: "asc" }) => Promise<StoredEvent[]> },
) {
  return (await store.listEvents({ limit: 1000, order: "asc" })).map(canonical);
}

describe("GET /v1/export", () => {
  for (const format of ["ndjson", "csv"] as const) {
    it(`round-trips raw events through ${format} and the bulk import into a fresh store`, async () => {
      const clock = new FakeClock(NOW);
      await withApp(async (source) => {
        const events = sampleEvents(format === "ndjson");
        const posted = await source.request("/v1/events", { method: "POST", body: JSON.stringify(events) });
        expect(posted.status).toBe(202);
        const pb = await posted.json();
        expect(pb.data.results.filter((r: { status: string }) => r.status !== "accepted")).toEqual([]);
        const from = new Date(NOW - 3 * DAY).toISOString();
        const res = await source.request(`/v1/export?from=${from}&to=now&format=${format}`);
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe(
          format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson",
        );
        const body = await res.text();
        expect(body.trim().split(/\r?\n/).length).toBe(format === "csv" ? 61 : 60);
        if (format === "csv") {
          expect(body.split("\r\n")[0]).toBe("id,deviceId,eventType,value,timestamp,floor,site");
        }
        await withApp(async (target) => {
          const query = format === "csv" ? "?metadataColumns=floor,site" : "";
          const imported = await target.request(`/v1/import${query}`, {
            method: "POST",
            body,
            headers: { "content-type": format === "csv" ? "text/csv" : "application/x-ndjson" },
          });
          expect(imported.status).toBe(201);
          expect((await imported.json()).data).toMatchObject({ accepted: 60, rejected: 0, duplicates: 0 });
          expect(await allEvents(target.server.store)).toEqual(await allEvents(source.server.store));
        }, { clock });
      }, { clock });
    });
  }

  it("exports rollups of a stored resolution and refuses bad parameters with 400 and the field", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      const events = sampleEvents(false);
      await f.request("/v1/events", { method: "POST", body: JSON.stringify(events) });
      await f.server.stream!.flush();
      const res = await f.request(`/v1/export?source=rollups&resolution=1h&from=${NOW - 3 * DAY}&to=${NOW}`);
      expect(res.status).toBe(200);
      const rows = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
      // One bucket per event hour per (type, device) and per type for all devices.
      const expected = new Set<string>();
      for (const e of events) {
        const start = e.timestamp - (e.timestamp % HOUR);
        expected.add(`${e.eventType}|${e.deviceId}|${start}`).add(`${e.eventType}||${start}`);
      }
      expect(rows.length).toBe(expected.size);
      expect(
        rows.reduce(
          (n: number, r: { count: number; deviceId: string | null }) =>
            n + (r.deviceId === null ? r.count : 0),
          0,
        ),
      )
        .toBe(60);
      for (
        const [query, field] of [
          ["format=xml&from=0", "format"],
          ["from=5&to=4", "to"],
          ["to=now", "from"],
          ["from=0&source=rollups&resolution=7s", "resolution"],
          ["from=0&resolution=1h", "resolution"],
          ["from=0&limit=5", "limit"],
        ]
      ) {
        const bad = await f.request(`/v1/export?${query}`);
        expect(bad.status).toBe(400);
        expect((await bad.json()).errors.map((e: { field: string }) => e.field)).toContain(field);
      }
      const noKey = await f.request(`/v1/export?from=0`, { key: null });
      expect(noKey.status).toBe(401);
    }, { clock });
  });
});

describe("GET /v1/admin/storage", () => {
  it("reports each raw partition and rollup tier exactly", async () => {
    const clock = new FakeClock(NOW);
    await withApp(async (f) => {
      await f.request("/v1/events", { method: "POST", body: JSON.stringify(sampleEvents(true)) });
      await f.server.stream!.flush();
      const res = await f.request("/v1/admin/storage");
      expect(res.status).toBe(200);
      const report = await res.json();
      const first = NOW - 2 * DAY - 12 * HOUR; // 2026-11-20T00:00Z
      expect(
        report.raw.partitions.map((
          p: { day: string; rows: number; oldest: string; newest: string },
        ) => [p.day, p.rows, p.oldest, p.newest]),
      )
        .toEqual([
          ["2026-11-20", 24, new Date(first).toISOString(), new Date(first + 23 * HOUR).toISOString()],
          [
            "2026-11-21",
            24,
            new Date(first + 24 * HOUR).toISOString(),
            new Date(first + 47 * HOUR).toISOString(),
          ],
          [
            "2026-11-22",
            12,
            new Date(first + 48 * HOUR).toISOString(),
            new Date(first + 59 * HOUR).toISOString(),
          ],
        ]);
      expect(report.raw).toMatchObject({ retentionDays: 7, rows: 60, oldest: new Date(first).toISOString() });
      expect(report.raw.bytes).toBe(
        report.raw.partitions.reduce((n: number, p: { bytes: number }) => n + p.bytes, 0),
      );
      expect(report.eventIds.rows).toBe(60);
      expect(
        report.rollups.tiers.map((
          t: { resolution: string; retentionDays: number },
        ) => [t.resolution, t.retentionDays]),
      )
        .toEqual([["60s", 90], ["3600s", 730]]);
      // 60 events in 60 distinct hours: per tier, one bucket per event per series (device, all devices).
      expect(report.rollups.tiers.map((t: { rows: number }) => t.rows)).toEqual([120, 120]);
      // Each tier's share of the rollup table's bytes (estimated from its rows' sizes).
      const tierBytes = report.rollups.tiers.map((t: { bytes: number }) => t.bytes);
      expect(tierBytes.every((b: number) => b > 0)).toBe(true);
      expect(tierBytes[0] + tierBytes[1]).toBeLessThanOrEqual(report.rollups.bytes);
      expect(report.rollups.tiers.map((t: { oldest: string; newest: string }) => [t.oldest, t.newest]))
        .toEqual([
          [new Date(first).toISOString(), new Date(first + 59 * HOUR).toISOString()],
          [new Date(first).toISOString(), new Date(first + 59 * HOUR).toISOString()],
        ]);
      expect(report.file.autoVacuum).toBe("incremental");
      expect(report.deadLetters).toEqual([]);
      expect((await f.request("/v1/admin/storage", { key: "nope-nope-nope-nope" })).status).toBe(401);
    }, { clock });
  });
});
