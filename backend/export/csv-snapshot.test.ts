import { parse } from "csv-parse/sync";
import { describe, expect, it } from "vitest";
import type { Store } from "../store/store.ts";
import { FakeClock, withApp } from "../testing/with-app.ts";
import { exportStream } from "./export-service.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");

describe("CSV export of events", () => {
  it("writes only the events its first (column) pass saw, not one committed between the passes", async () => {
    await withApp(async ({ server, request }) => {
      const events = Array.from({ length: 5 }, (_, i) => ({
        id: `e-${i}`,
        deviceId: "d",
        eventType: "power",
        value: i,
        timestamp: NOW - 60_000 + i,
        metadata: { site: "a" },
      }));
      expect((await request("/v1/events", { method: "POST", body: JSON.stringify(events) })).status).toBe(
        202,
      );
      // The real store; an event with a new metadata key is committed as the second pass starts.
      let calls = 0;
      const store = server.store;
      const racing = new Proxy(store, {
        get(target, key, receiver) {
          if (key !== "listEvents") return Reflect.get(target, key, receiver);
          return async (q: Parameters<Store["listEvents"]>[0]) => {
            if (++calls === 2) {
              await request("/v1/events", {
                method: "POST",
                body: JSON.stringify([{
                  ...events[0],
                  id: "late",
                  timestamp: NOW - 30_000,
                  metadata: { floor: 3 },
                }]),
              });
            }
            return await target.listEvents(q);
          };
        },
      });
      const body = await new Response(
        await exportStream(racing, { source: "events", format: "csv", from: NOW - 3_600_000, to: NOW }),
      ).text();
      const lines = body.trim().split("\r\n");
      expect(lines[0]).toBe("id,deviceId,eventType,value,timestamp,site");
      expect(lines.slice(1).map((l) => l.split(",")[0])).toEqual(["e-0", "e-1", "e-2", "e-3", "e-4"]);
      expect(await store.getEvent("late")).not.toBeNull();
    }, { clock: new FakeClock(NOW) });
  });
});

describe("CSV export of many distinct metadata keys", () => {
  it("gives the first 256 keys a column each and the rest, and clashing names, one JSON column", async () => {
    await withApp(async ({ request }) => {
      // 9 events × 32 keys = 288 distinct keys (over the 256 columns), plus keys named like columns.
      const events = Array.from({ length: 9 }, (_, i) => ({
        id: `m-${i}`,
        deviceId: "d",
        eventType: "t",
        value: i,
        timestamp: NOW - 60_000 + i,
        metadata: Object.fromEntries(
          Array.from({ length: i === 8 ? 30 : 32 }, (_, k) => [`k${String(i * 32 + k).padStart(3, "0")}`, k]),
        ),
      }));
      Object.assign(events[8].metadata, { id: "clash", metadata: "also" });
      const posted = await request("/v1/events", { method: "POST", body: JSON.stringify(events) });
      expect(posted.status).toBe(202);

      const res = await request(`/v1/export?format=csv&from=${NOW - 3_600_000}&to=${NOW}`);
      expect(res.status).toBe(200);
      const rows: string[][] = parse(await res.text(), { relax_column_count: false });
      const header = rows[0];
      expect(header.slice(0, 5)).toEqual(["id", "deviceId", "eventType", "value", "timestamp"]);
      expect(header.length).toBe(5 + 256 + 1);
      expect(header.at(-1)).toBe("metadata");
      // Keys in the order the events come (by time): events 0-7 fill exactly 256 columns.
      expect(header.slice(5, -1)).toEqual(
        Array.from({ length: 256 }, (_, k) => `k${String(k).padStart(3, "0")}`),
      );
      expect(rows.length).toBe(1 + 9);
      // Every event's metadata comes back whole: its columns plus the JSON column.
      for (const [i, row] of rows.slice(1).entries()) {
        expect(row[0]).toBe(`m-${i}`);
        const back: Record<string, unknown> = row.at(-1) ? JSON.parse(row.at(-1)!) : {};
        header.slice(5, -1).forEach((key, c) => {
          if (row[5 + c] !== "") back[key] = Number(row[5 + c]);
        });
        expect(back).toEqual(events[i].metadata);
        expect(row.at(-1) === "").toBe(i < 8);
      }
    }, { clock: new FakeClock(NOW) });
  });
});
