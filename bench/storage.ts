/**
 * Storage lifecycle figures on a fresh temp-file store (the server's SQLite defaults):
 *
 *   ./node_modules/.bin/deno run -A bench/storage.ts [--rows 1000000] [--driver node-sqlite-worker]
 *       [--formats ndjson,csv,parquet] [--export-runs 3] [--keep]
 *
 * 1. Commits `rows` events of one UTC day (100 devices, 3 types, metadata {site}, no payload;
 *    UUIDv7 ids, batches of 1,000) and reports bytes per event on disk: the partition's table
 *    and indexes plus the event_ids table (dbstat), and the whole file after a checkpoint.
 * 2. Folds the same events through the stream engine and flushes them: rollup bytes per bucket
 *    and per event (1 min and 1 h tiers).
 * 3. Exports the day in each format (`export-runs` times, median): events/s and bytes; then the
 *    day's 1 min rollup buckets in each format: buckets/s and bytes.
 * 4. Drops the partition, then returns its pages to the file system (incremental vacuum), while
 *    single events are committed back to back to another day, and reports the drop and vacuum
 *    times and the commits overlapping each (count, longest, 99th percentile).
 *
 * `--keep` leaves the database file (with the rollups; the raw day is dropped) and prints its path.
 */
import { uuidv7 } from "uuidv7";
import { openSqlDriver } from "../backend/adapters/sqlite/open-driver.ts";
import { createSqliteStore } from "../backend/store/sqlite/sqlite-store.ts";
import { partitionTrees } from "../backend/store/sqlite/event-partitions.ts";
import { zlibPayloadCodec } from "../backend/adapters/sqlite/zlib-payload-codec.ts";
import { exportStream } from "../backend/export/export-service.ts";
import type { ExportFormat } from "../backend/export/export-formats.ts";
import { StreamEngine } from "../backend/stream/engine.ts";
import type { EnrichedEvent } from "../shared/event.ts";
import { partitionOf } from "../shared/partition.ts";

const args = Object.fromEntries(
  Deno.args.map((a, i, all) => (a.startsWith("--") ? [a.slice(2), all[i + 1]] : null)).filter((x) =>
    x !== null
  ),
) as Record<string, string>;
const ROWS = Number(args.rows ?? 1_000_000);
const DRIVER = (args.driver ?? "node-sqlite-worker") as "node-sqlite-worker" | "node-sqlite" | "libsql";
const FORMATS = (args.formats ?? "ndjson,csv,parquet").split(",") as ExportFormat[];
const EXPORT_RUNS = Number(args["export-runs"] ?? 3);
const KEEP = Deno.args.includes("--keep");
const DAY = 86_400_000;
const T0 = Date.parse("2026-11-22T00:00:00.000Z");
const DEVICES = Array.from({ length: 100 }, (_, i) => `dev-${i}`);
const TYPES = ["temperature", "humidity", "pressure"];
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function makeBatch(start: number, n: number): EnrichedEvent[] {
  return Array.from({ length: n }, (_, j) => {
    const i = start + j;
    const d = i % 100;
    return {
      id: uuidv7(),
      deviceId: DEVICES[d],
      eventType: TYPES[i % 3],
      value: (i % 10_000) / 100,
      // Spread evenly over the day.
      timestamp: T0 + Math.floor((i / ROWS) * (DAY - 1)),
      receivedAt: T0 + i + 5,
      partition: partitionOf(DEVICES[d], 8),
      metadata: { site: "a" },
      data: null,
    };
  });
}

const dir = await Deno.makeTempDir({ prefix: "pulsestream-storage-bench-" });
const dbPath = `${dir}/store.db`;
const driver = await openSqlDriver(`file:${dbPath}`, {
  cacheMb: 128,
  walAutocheckpointPages: 20000,
  synchronous: "normal",
  preference: DRIVER,
});
const store = await createSqliteStore({ driver, payloadCodec: zlibPayloadCodec });
const clock = { now: () => T0 + DAY };
const engine = new StreamEngine({
  partitions: 8,
  resolutions: [60_000, 3_600_000],
  storedMinResolution: 60_000,
  allowedLatenessMs: 5000,
  idleMs: 5000,
  clock,
});
console.log(`storage bench: rows=${ROWS} driver=${DRIVER} deno ${Deno.version.deno}`);
try {
  let commitMs = 0;
  for (let done = 0; done < ROWS; done += 1000) {
    const batch = makeBatch(done, Math.min(1000, ROWS - done));
    const t = performance.now();
    const { firstSeq, outcomes } = await store.commitEvents(batch);
    commitMs += performance.now() - t;
    engine.ingest(
      batch.map((e, i) => ({ ...e, seq: firstSeq + i })).filter((_, i) => outcomes[i] === "accepted"),
    );
  }
  await driver.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const layout = await store.storage.layout();
  const part = layout.partitions[0];
  const file = Deno.statSync(dbPath).size;
  const trees = [];
  for (const name of [...partitionTrees(Math.floor(T0 / DAY)), "event_ids", "event_dictionary"]) {
    const [{ b }] = await driver.all<{ b: number }>(
      "SELECT sum(pgsize) AS b FROM dbstat WHERE name = ? AND aggregate = TRUE",
      [name],
    );
    trees.push(`${name} ${(b / ROWS).toFixed(1)}`);
  }
  console.log(`bytes/event per B-tree: ${trees.join(", ")}`);
  console.log(
    `commit: ${Math.round(ROWS / (commitMs / 1000))} rows/s | raw bytes/event: partition ${
      (part.bytes / ROWS).toFixed(1)
    } + event_ids ${(layout.eventIds.bytes / ROWS).toFixed(1)} = ${
      ((part.bytes + layout.eventIds.bytes) / ROWS).toFixed(1)
    } B; whole file ${(file / ROWS).toFixed(1)} B/event (${mib(file)} MiB)`,
  );

  const { batch } = engine.takeFlush();
  await store.applyRollupFlush(batch);
  await driver.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const after = await store.storage.layout();
  const buckets = after.rollups.reduce((n, r) => n + r.rows, 0);
  console.log(
    `rollups: ${after.rollups.map((r) => `${r.resolution / 60_000} min: ${r.rows} buckets`).join(", ")} | ` +
      `${mib(after.rollupBytes)} MiB, ${(after.rollupBytes / buckets).toFixed(1)} B/bucket, ${
        (after.rollupBytes / ROWS).toFixed(1)
      } B/event`,
  );

  const minuteBuckets = after.rollups.find((r) => r.resolution === 60_000)?.rows ?? 0;
  for (
    const [source, records, unit] of [
      ["events", ROWS, "event"],
      ["rollups", minuteBuckets, "bucket"],
    ] as const
  ) {
    for (const format of FORMATS) {
      const rates: number[] = [];
      let bytes = 0;
      for (let r = 0; r < EXPORT_RUNS; r++) {
        const t = performance.now();
        const stream = await exportStream(store, {
          source,
          format,
          from: T0,
          to: T0 + DAY,
          ...(source === "rollups" ? { resolution: 60_000 } : {}),
        });
        bytes = 0;
        for await (const chunk of stream) bytes += chunk.length;
        rates.push(records / ((performance.now() - t) / 1000));
      }
      console.log(
        `export ${source} ${format}: median ${Math.round(median(rates))} ${unit}s/s (runs ${
          rates.map(Math.round).join(", ")
        }) | ${mib(bytes)} MiB, ${(bytes / records).toFixed(1)} B/${unit}`,
      );
    }
  }

  // Drop the day, then reclaim its pages, while another day takes single-event commits back to back.
  let stop = false;
  const commits: [number, number][] = [];
  // Each commit waits for the next macrotask first, like a request arriving: with an in-thread driver
  // a loop of awaited commits alone would never let the drop's steps run.
  const nextTurn = () =>
    new Promise<void>((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => (channel.port1.close(), resolve());
      channel.port2.postMessage(null);
    });
  const prober = (async () => {
    while (!stop) {
      await nextTurn();
      const t = performance.now();
      await store.commitEvents([{ ...makeBatch(0, 1)[0], timestamp: T0 + DAY + commits.length }]);
      commits.push([t, performance.now()]);
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  await driver.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const fileBefore = Deno.statSync(dbPath).size;
  const drop = { from: performance.now(), to: 0 };
  const { rows } = await store.storage.dropEventPartition(T0);
  drop.to = performance.now();
  const vacuum = { from: performance.now(), to: 0 };
  const pages = await store.storage.reclaimSpace();
  vacuum.to = performance.now();
  await new Promise((r) => setTimeout(r, 100));
  stop = true;
  await prober;
  await driver.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  /** Commits overlapping `span`: how many, the longest and the 99th percentile, ms. */
  const during = (span: { from: number; to: number }) => {
    const ms = commits.filter(([a, b]) => a < span.to && b > span.from).map(([a, b]) => b - a)
      .sort((x, y) => x - y);
    const p99 = ms[Math.min(ms.length - 1, Math.ceil(ms.length * 0.99) - 1)] ?? 0;
    return `${ms.length} commits, max ${(ms[ms.length - 1] ?? 0).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`;
  };
  console.log(
    `drop of a ${rows}-event partition: ${Math.round(drop.to - drop.from)} ms | meanwhile ${
      during(drop)
    } | ` +
      `incremental vacuum ${pages} pages in ${Math.round(vacuum.to - vacuum.from)} ms, meanwhile ${
        during(vacuum)
      } | before the drop ${during({ from: 0, to: drop.from })} | file ${mib(fileBefore)} -> ${
        mib(Deno.statSync(dbPath).size)
      } MiB`,
  );
} finally {
  await store.close();
  if (KEEP) console.log(`kept ${dbPath}`);
  else await Deno.remove(dir, { recursive: true });
}
