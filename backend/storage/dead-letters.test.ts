import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import type { PulseStream } from "../server.ts";
import { expectRollupsMatchEvents } from "../testing/rollup-check.ts";
import { repairUndecodableRow, writeUndecodableRow } from "../testing/store-faults.ts";
import { openFaultyServer } from "../testing/faulty-server.ts";
import { FakeClock, TEST_KEY, withTempDir } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const RESOLUTIONS = [60_000, 3_600_000];

const open = (dir: string, clock: FakeClock) =>
  openFaultyServer(dir, clock, { file: "dl.db", env: { ROLLUP_FLUSH_MAX_ATTEMPTS: "3" } });

const request = (server: PulseStream, path: string, init: RequestInit = {}) =>
  server.app.request(`http://localhost${path}`, {
    ...init,
    headers: { "x-api-key": TEST_KEY, "content-type": "application/json" },
  });

/** The dead-letter samples of `GET /metrics`. */
const deadLetterSamples = async (server: PulseStream) =>
  (await (await request(server, "/metrics")).text()).split("\n").filter((l) =>
    l.startsWith("pulsestream_dead_letters{")
  );

const events = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `e-${from + i}`,
    deviceId: `dev-${(from + i) % 3}`,
    eventType: "power",
    value: from + i,
    timestamp: NOW - 3_600_000 + (from + i) * 1000,
  }));

describe("Dead letters", () => {
  it("parks a rollup flush that keeps failing, keeps it, and replays it exactly once", async () => {
    await withTempDir(async (dir) => {
      const clock = new FakeClock(NOW);
      const { server, faults } = await open(dir, clock);
      try {
        expect(
          (await request(server, "/v1/events", { method: "POST", body: JSON.stringify(events(0, 50)) }))
            .status,
        )
          .toBe(202);
        faults.failing = true;
        for (let i = 0; i < 3; i++) await server.stream!.flush();
        expect(faults.refused).toBe(3);
        // Kept: listed with its payload (the seq range), reason and attempts; the checkpoint moved past it.
        const listed = await (await request(server, "/v1/admin/dead-letters?kind=rollup-flush")).json();
        expect(listed.items).toHaveLength(1);
        const letter = listed.items[0];
        expect(letter).toMatchObject({
          kind: "rollup-flush",
          payload: { fromSeq: 0, toSeq: 50 },
          attempts: 3,
          replayedAt: null,
          firstFailedAt: new Date(NOW).toISOString(),
        });
        expect(letter.reason).toContain("injected: rollup write failed");
        expect(await server.store.rollupCheckpoint()).toBe(50);
        expect(await server.deadLetters.counts()).toEqual([{
          kind: "rollup-flush",
          pending: 1,
          replayed: 0,
        }]);
        await expect(expectRollupsMatchEvents(server.store, RESOLUTIONS)).rejects.toThrow();
        expect(await deadLetterSamples(server)).toEqual([
          'pulsestream_dead_letters{kind="rollup-flush",state="pending"} 1',
          'pulsestream_dead_letters{kind="rollup-flush",state="replayed"} 0',
        ]);

        // New events flow while the disk still fails for rollups; then the disk heals.
        await request(server, "/v1/events", { method: "POST", body: JSON.stringify(events(50, 20)) });
        const failed =
          await (await request(server, `/v1/admin/dead-letters/${letter.id}/replay`, { method: "POST" }))
            .json();
        expect(failed).toMatchObject({ id: letter.id, outcome: "failed" });
        expect((await server.deadLetters.get(letter.id)).attempts).toBe(4);
        faults.failing = false;
        await server.stream!.flush();
        const replayed =
          await (await request(server, `/v1/admin/dead-letters/${letter.id}/replay`, { method: "POST" }))
            .json();
        expect(replayed).toEqual({ id: letter.id, outcome: "replayed" });
        expect(await deadLetterSamples(server)).toEqual([
          'pulsestream_dead_letters{kind="rollup-flush",state="pending"} 0',
          'pulsestream_dead_letters{kind="rollup-flush",state="replayed"} 1',
        ]);
        expect(await expectRollupsMatchEvents(server.store, RESOLUTIONS)).toBeGreaterThan(0);
        // A second replay, one at a time or all at once, changes nothing.
        expect(
          await (await request(server, `/v1/admin/dead-letters/${letter.id}/replay`, { method: "POST" }))
            .json(),
        )
          .toEqual({ id: letter.id, outcome: "already-replayed" });
        expect(await (await request(server, "/v1/admin/dead-letters/replay", { method: "POST" })).json())
          .toEqual({ replayed: 0, failed: 0, outcomes: [] });
        await expectRollupsMatchEvents(server.store, RESOLUTIONS);
        const series = await server.store.listSeries({ eventType: "power", devices: true, limit: 10 });
        expect(series.reduce((n, s) => n + s.state.count, 0)).toBe(70);
        // Purge removes replayed items only when asked so.
        expect(
          await (await request(server, "/v1/admin/dead-letters?replayed=true", { method: "DELETE" })).json(),
        )
          .toEqual({ purged: 1 });
        expect((await request(server, `/v1/admin/dead-letters/${letter.id}`)).status).toBe(404);
      } finally {
        await server.close();
      }
      // After a restart nothing is folded twice.
      const again = await open(dir, clock);
      try {
        await expectRollupsMatchEvents(again.server.store, RESOLUTIONS);
      } finally {
        await again.server.close();
      }
    });
  });

  it("keeps an event that replay at start cannot decode, and folds it once it can be", async () => {
    await withTempDir(async (dir) => {
      const clock = new FakeClock(NOW);
      const first = await open(dir, clock);
      await request(first.server, "/v1/events", { method: "POST", body: JSON.stringify(events(0, 10)) });
      await first.server.close();
      // A row written by another schema version: its value is text, above the checkpoint.
      const raw = await openSqlDriver(`file:${join(dir, "dl.db")}`, {
        cacheMb: 8,
        walAutocheckpointPages: 1000,
        synchronous: "normal",
        preference: "auto", // the same SQLite library as the server: mixing two on one WAL file is not safe
      });
      const odd = { id: "odd", seq: 11, ts: NOW - 1000 };
      await writeUndecodableRow(raw, odd);
      await raw.close();

      const second = await open(dir, clock);
      try {
        const [letter] = await second.server.deadLetters.list({ kind: "event", limit: 10 });
        expect(letter).toMatchObject({ kind: "event", payload: { seq: 11 }, attempts: 1, replayedAt: null });
        expect(letter.reason).toBe("undecodable at replay: value");
        // Everything else was replayed and flushed; the odd row is not counted.
        await second.server.stream!.flush();
        expect(await second.server.store.rollupCheckpoint()).toBe(11);
        expect(await second.server.deadLetters.replay(letter.id)).toMatchObject({ outcome: "failed" });
        // The row is repaired (what a migration for that schema change would do), then replayed.
        await repairUndecodableRow(second.driver, odd);
        expect(await second.server.deadLetters.replay(letter.id)).toEqual({
          id: letter.id,
          outcome: "replayed",
        });
        await expectRollupsMatchEvents(second.server.store, RESOLUTIONS);
        const [power] = await second.server.store.listSeries({ devices: false, limit: 5 });
        expect(power.state.count).toBe(11);
      } finally {
        await second.server.close();
      }
      // Restarting does not keep or fold it again.
      const third = await open(dir, clock);
      try {
        expect(await third.server.deadLetters.counts()).toEqual([{ kind: "event", pending: 0, replayed: 1 }]);
        await expectRollupsMatchEvents(third.server.store, RESOLUTIONS);
      } finally {
        await third.server.close();
      }
    });
  });
});
