/**
 * Property: for random streams (out of order, duplicates, late and very late
 * events, values missing, negative and zero, many devices), the stored rollups
 * equal a brute-force recomputation from the stored raw events, for every
 * bucket of every resolution and every aggregate.
 */
import { describe, expect, it } from "vitest";
import { expectRollupsMatchEvents } from "../testing/rollup-check.ts";
import { FakeClock, withApp } from "../testing/with-app.ts";
import { seededRandom } from "../testing/seeded-random.ts";

describe("stored rollups equal a recomputation from the raw events", () => {
  it.each([1, 2, 3])("random stream, seed %i", async (seed) => {
    const random = seededRandom(seed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
    const clock = new FakeClock(Date.parse("2026-11-22T12:59:30.000Z"));
    await withApp(async ({ server, request }) => {
      const sentIds: string[] = [];
      let accepted = 0;
      for (let round = 0; round < 40; round++) {
        const batch = Array.from({ length: 1 + Math.floor(random() * 120) }, (_, i) => {
          const r = random();
          const age = r < 0.05
            ? 3_600_000 + random() * 3_600_000
            : r < 0.2
            ? 20_000 + random() * 60_000
            : random() * 4000;
          const id = sentIds.length > 0 && random() < 0.1 ? pick(sentIds) : `s${seed}-${round}-${i}`;
          sentIds.push(id);
          const v = random();
          return {
            id,
            deviceId: `dev-${Math.floor(random() * 25)}`,
            eventType: pick(["temp", "load", "door"]),
            value: v < 0.1 ? undefined : v < 0.15 ? 0 : Math.round((random() - 0.3) * 1e6) / 100,
            timestamp: Math.round(clock.now() - age),
          };
        });
        const res = await request("/v1/events", { method: "POST", body: JSON.stringify(batch) });
        expect(res.status).toBe(202);
        accepted += ((await res.json()) as { data: { totals: { accepted: number } } }).data.totals.accepted;
        clock.advance(Math.floor(random() * 4000));
        server.stream!.tick();
        if (random() < 0.3) await server.stream!.flush();
      }
      await server.stream!.flush();
      expect((await server.store.stats()).events).toBe(accepted);
      const buckets = await expectRollupsMatchEvents(server.store, [60_000, 3_600_000]);
      expect(buckets).toBeGreaterThan(500);
      expect(server.engine!.lateEvents).toBeGreaterThan(0);
    }, {
      clock,
      env: {
        PARTITIONS: "4",
        ALLOWED_LATENESS_MS: "2000",
        PARTITION_IDLE_MS: "3000",
        RATE_LIMIT_BURST: "100000",
      },
    });
  });
});
