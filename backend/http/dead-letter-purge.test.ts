import { describe, expect, it } from "vitest";
import { FakeClock, withApp } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");

describe("DELETE /v1/admin/dead-letters", () => {
  it("purges replayed items by default, pending ones only with pending=true, and validates its parameters", async () => {
    await withApp(async ({ server, request }) => {
      const item = (kind: string) => ({ kind, payload: { n: 1 }, reason: "r", attempts: 1, at: NOW });
      const pending = await server.store.deadLetters.add(item("notification"));
      const done = await server.store.deadLetters.add(item("notification"));
      const other = await server.store.deadLetters.add(item("webhook"));
      expect(await server.store.deadLetters.markReplayed(done.id, NOW)).toBe(true);

      for (
        const [query, field] of [["pending=yes", "pending"], ["kind=DROP%20TABLE", "kind"], ["kind=", "kind"]]
      ) {
        const bad = await request(`/v1/admin/dead-letters?${query}`, { method: "DELETE" });
        expect(bad.status).toBe(400);
        expect(JSON.stringify(await bad.json())).toContain(`"field":"${field}"`);
      }
      expect(await server.store.deadLetters.counts()).toEqual([
        { kind: "notification", pending: 1, replayed: 1 },
        { kind: "webhook", pending: 1, replayed: 0 },
      ]);
      // No parameters: only the replayed item goes.
      expect(await (await request("/v1/admin/dead-letters", { method: "DELETE" })).json()).toEqual({
        purged: 1,
      });
      expect(await server.store.deadLetters.get(pending.id)).not.toBeNull();
      expect(await server.store.deadLetters.get(done.id)).toBeNull();
      // Explicitly pending, one kind.
      expect(
        await (await request("/v1/admin/dead-letters?kind=notification&pending=true", { method: "DELETE" }))
          .json(),
      )
        .toEqual({ purged: 1 });
      expect(await server.store.deadLetters.get(pending.id)).toBeNull();
      expect(await server.store.deadLetters.get(other.id)).not.toBeNull();
    }, { clock: new FakeClock(NOW) });
  });
});
