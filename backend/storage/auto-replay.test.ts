import { describe, expect, it } from "vitest";
import { type PulseStream } from "../server.ts";
import { expectRollupsMatchEvents } from "../testing/rollup-check.ts";
import { openFaultyServer, postEvents } from "../testing/faulty-server.ts";
import { FakeClock, withTempDir } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const RESOLUTIONS = [60_000, 3_600_000];
const BACKOFF = 60_000;

const open = (dir: string, clock: FakeClock) =>
  openFaultyServer(dir, clock, {
    file: "auto.db",
    env: {
      ROLLUP_FLUSH_MAX_ATTEMPTS: "2",
      ROLLUP_REPLAY_BACKOFF_MS: String(BACKOFF),
      ROLLUP_REPLAY_MAX_ATTEMPTS: "3",
    },
  });

/** Posts `n` events and parks their flush (two failed flushes); resolves with the dead letter. */
async function park(server: PulseStream, from: number, n: number) {
  const events = Array.from({ length: n }, (_, i) => ({
    id: `e-${from + i}`,
    deviceId: `dev-${i % 3}`,
    eventType: "power",
    value: i,
    timestamp: NOW - 3_600_000 + (from + i) * 1000,
  }));
  expect((await postEvents(server, events)).status).toBe(202);
  await server.stream!.flush();
  await server.stream!.flush();
  const [letter] = await server.deadLetters.list({ kind: "rollup-flush", pending: true, limit: 1 });
  return letter;
}

describe("Automatic replay of parked rollup flushes", () => {
  it("retries with exponential backoff until the rollup write succeeds, and applies it once", async () => {
    await withTempDir(async (dir) => {
      const clock = new FakeClock(NOW);
      const { server, faults } = await open(dir, clock);
      try {
        faults.failing = true;
        const letter = await park(server, 0, 30);
        expect(letter).toMatchObject({ attempts: 2, autoReplays: 0, payload: { fromSeq: 0, toSeq: 30 } });
        expect(faults.refused).toBe(2);
        const run = async (advance: number) => {
          clock.advance(advance);
          return (await server.autoReplay!.runOnce()).map((o) => o.outcome);
        };
        // Due 1, then 2, then 4 backoffs after each failure; never before.
        expect(await run(BACKOFF - 1)).toEqual([]);
        expect(await run(1)).toEqual(["failed"]);
        expect(await run(2 * BACKOFF - 1)).toEqual([]);
        expect(await run(1)).toEqual(["failed"]);
        expect(faults.refused).toBe(4);
        expect(await server.deadLetters.get(letter.id)).toMatchObject({ attempts: 4, autoReplays: 2 });
        // The disk heals: the next automatic replay folds the range, once.
        faults.failing = false;
        expect(await run(4 * BACKOFF - 1)).toEqual([]);
        expect(await run(1)).toEqual(["replayed"]);
        expect((await server.deadLetters.get(letter.id)).replayedAt).toBe(clock.now());
        expect(await run(10 * BACKOFF)).toEqual([]);
        expect(await expectRollupsMatchEvents(server.store, RESOLUTIONS)).toBeGreaterThan(0);
        const [power] = await server.store.listSeries({ devices: false, limit: 5 });
        expect(power.state.count).toBe(30);
      } finally {
        await server.close();
      }
    });
  });

  it("stops after the last automatic attempt; the item waits for an admin, whose replay still works", async () => {
    await withTempDir(async (dir) => {
      const clock = new FakeClock(NOW);
      const first = await open(dir, clock);
      first.faults.failing = true;
      const letter = await park(first.server, 0, 10);
      try {
        for (const wait of [1, 2]) {
          clock.advance(wait * BACKOFF);
          expect((await first.server.autoReplay!.runOnce()).map((o) => o.outcome)).toEqual(["failed"]);
        }
      } finally {
        await first.server.close();
      }
      // The schedule is stored: after a restart the third and last attempt is due 4 backoffs on.
      const second = await open(dir, clock);
      try {
        second.faults.failing = true;
        clock.advance(4 * BACKOFF - 1);
        expect(await second.server.autoReplay!.runOnce()).toEqual([]);
        clock.advance(1);
        expect((await second.server.autoReplay!.runOnce()).map((o) => o.outcome)).toEqual(["failed"]);
        const refused = second.faults.refused;
        clock.advance(100 * BACKOFF);
        expect(await second.server.autoReplay!.runOnce()).toEqual([]);
        expect(second.faults.refused).toBe(refused);
        expect(await second.server.deadLetters.get(letter.id)).toMatchObject({
          attempts: 5,
          autoReplays: 3,
          replayedAt: null,
        });
        second.faults.failing = false;
        expect(await second.server.deadLetters.replay(letter.id)).toEqual({
          id: letter.id,
          outcome: "replayed",
        });
        await expectRollupsMatchEvents(second.server.store, RESOLUTIONS);
      } finally {
        await second.server.close();
      }
    });
  });
});
