import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { partitionOf } from "../../shared/partition.ts";
import type { EnrichedEvent } from "../../shared/event.ts";
import { openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { loadConfig } from "../config.ts";
import { OverloadedError } from "../errors.ts";
import { createLogger } from "../logger.ts";
import { createPulseStream } from "../server.ts";
import type { SqlDriver } from "../store/sqlite/sql-driver.ts";
import { FakeClock, TEST_KEY, withTempDir } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");

function events(prefix: string, n: number): EnrichedEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    deviceId: "dev-1",
    eventType: "t",
    value: i,
    timestamp: NOW - 1000,
    receivedAt: NOW,
    partition: partitionOf("dev-1", 8),
    metadata: null,
    data: null,
  }));
}

/** The real driver, with rollup flush transactions held until `open()` (fault injection on timing). */
function holdingFlushes(real: SqlDriver) {
  let gate: Promise<void> | null = null;
  let open = () => {};
  const driver: SqlDriver = Object.create(real);
  driver.writeBatch = async (statements) => {
    if (gate && statements.some((s) => s.sql.includes("stream_state"))) await gate;
    return real.writeBatch(statements);
  };
  return {
    driver,
    hold: () => (gate = new Promise<void>((resolve) => (open = resolve))),
    open: () => {
      gate = null;
      open();
    },
  };
}

describe("StreamService.flush", () => {
  it("called while a flush is in flight, resolves only once the events folded since are flushed too", async () => {
    await withTempDir(async (dir) => {
      const config = loadConfig({
        DATABASE_URL: `file:${join(dir, "test.db")}`,
        BOOTSTRAP_API_KEY: TEST_KEY,
        ROLLUP_FLUSH_MS: "60000",
      });
      const held = holdingFlushes(await openSqlDriver(config.databaseUrl, config.sqlite));
      const server = await createPulseStream(config, {
        driver: held.driver,
        logger: createLogger("silent"),
        clock: new FakeClock(NOW),
        print: () => {},
      });
      try {
        const stream = server.stream!;
        await server.committer.submit(events("a", 3)); // seqs 1–3
        held.hold();
        const inFlight = stream.flush(); // took the deltas of seqs 1–3; its write waits at the gate
        await server.committer.submit(events("b", 4)); // seqs 4–7, folded after that take
        const flushed = stream.flush();
        held.open();
        await inFlight;
        await flushed;
        expect(await server.store.rollupCheckpoint()).toBe(7);
      } finally {
        await server.close();
      }
    });
  });
});

function newDevices(from: number, n: number): EnrichedEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `n-${from + i}`,
    deviceId: `dev-${from + i}`,
    eventType: "t",
    value: i,
    timestamp: NOW - 1000,
    receivedAt: NOW,
    partition: partitionOf(`dev-${from + i}`, 8),
    metadata: null,
    data: null,
  }));
}

describe("StreamService backpressure (STREAM_MAX_UNFLUSHED_DEVICES)", () => {
  it("starts a flush at half the bound, so steady new devices are flushed before it is reached", async () => {
    await withTempDir(async (dir) => {
      const config = loadConfig({
        DATABASE_URL: `file:${join(dir, "test.db")}`,
        BOOTSTRAP_API_KEY: TEST_KEY,
        ROLLUP_FLUSH_MS: "60000",
        STREAM_MAX_UNFLUSHED_DEVICES: "100",
      });
      const server = await createPulseStream(config, {
        driver: await openSqlDriver(config.databaseUrl, config.sqlite),
        logger: createLogger("silent"),
        clock: new FakeClock(NOW),
        print: () => {},
      });
      try {
        const stream = server.stream!;
        const flushedTo = async (seq: number) => {
          for (let i = 0; i < 100 && await server.store.rollupCheckpoint() < seq; i++) {
            await new Promise((r) => setTimeout(r, 20));
          }
          return await server.store.rollupCheckpoint();
        };
        // 49 new devices: under half the bound, no flush before the timer's (a minute away).
        await server.committer.submit(newDevices(0, 49));
        await new Promise((r) => setTimeout(r, 200));
        expect(await server.store.rollupCheckpoint()).toBe(0);
        // One more: half the bound, and a flush starts after that commit, without the timer.
        await server.committer.submit(newDevices(49, 1));
        expect(await flushedTo(50)).toBe(50);
        // Ten rounds of 60 new devices each (600 in all, 6 times the bound): each flushed by itself,
        // none refused.
        for (let round = 0; round < 10; round++) {
          const outcomes = await server.committer.submit(newDevices(50 + round * 60, 60));
          expect(outcomes.filter((o) => o === "accepted")).toHaveLength(60);
          expect(stream.behind()).toBe(false);
          expect(await flushedTo(110 + round * 60)).toBe(110 + round * 60);
        }
        expect(await server.store.rollupCheckpoint()).toBe(650);
      } finally {
        await server.close();
      }
    });
  });

  it("refuses commits (503) while more new devices than the bound wait for a flush, and takes them once it lands", async () => {
    await withTempDir(async (dir) => {
      const config = loadConfig({
        DATABASE_URL: `file:${join(dir, "test.db")}`,
        BOOTSTRAP_API_KEY: TEST_KEY,
        ROLLUP_FLUSH_MS: "60000",
        STREAM_MAX_UNFLUSHED_DEVICES: "100",
      });
      const held = holdingFlushes(await openSqlDriver(config.databaseUrl, config.sqlite));
      const logs: string[] = [];
      const logger = createLogger("silent");
      const server = await createPulseStream(config, {
        driver: held.driver,
        logger: { ...logger, warn: (msg: string) => logs.push(msg) },
        clock: new FakeClock(NOW),
        print: () => {},
      });
      try {
        const stream = server.stream!;
        held.hold();
        // 60 new devices, then 60 more: 120 since the last flush, over the bound of 100; more events
        // of devices with open cells do not count.
        expect((await server.committer.submit(newDevices(0, 60))).every((o) => o === "accepted")).toBe(true);
        expect(stream.behind()).toBe(false);
        await server.committer.submit(newDevices(0, 60).map((e) => ({ ...e, id: `again-${e.id}` })));
        expect(stream.behind()).toBe(false);
        await server.committer.submit(newDevices(60, 60));
        expect(stream.behind()).toBe(true); // and a flush started, held at its write
        await expect(server.committer.submit(newDevices(120, 1))).rejects.toBeInstanceOf(OverloadedError);
        expect(logs.filter((m) => m.startsWith("stream engine behind"))).toHaveLength(1);
        held.open();
        await stream.flush();
        expect(stream.behind()).toBe(false);
        expect(await server.committer.submit(newDevices(120, 1))).toEqual(["accepted"]);
        expect(await server.store.rollupCheckpoint()).toBe(180);
      } finally {
        await server.close();
      }
    });
  });
});
