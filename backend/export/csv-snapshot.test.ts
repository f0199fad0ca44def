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
