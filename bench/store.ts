/**
 * Raw `Store.commitEvents` throughput on a fresh temp-file SQLite store (no HTTP, no queue).
 *
 *   ./node_modules/.bin/deno run -A bench/store.ts [--rows 1000000] [--batch 1000]
 *       [--ids v7|v4|idem] [--driver node-sqlite|libsql] [--runs 3]
 *
 * Each run opens a new store in a new temp directory with the server's defaults
 * (cache 128 MiB, wal_autocheckpoint 20000 pages, synchronous=NORMAL), commits `rows` events in
 * `commitEvents` calls of `batch` events, then checks the stored count, closes
 * the store (after a TRUNCATE checkpoint) and measures the database file. Ids are UUIDv7 (time-ordered, what
 * the server generates) or crypto.randomUUID() (v4, random client ids), or `idem`: what
 * single-event requests with an Idempotency-Key commit: the key is the event id (text) and each
 * event comes with its idempotency record (response body, predicted new id, 24 h TTL), checked
 * and written in the same transaction.
 *
 * Timing: each batch (ids included) is built just before its commitEvents call
 * and only the commitEvents call is timed; rows/s = rows / sum of commit times.
 * Wall rows/s (generation included) is printed alongside. Peak RSS is the max of
 * Deno.memoryUsage().rss sampled after every commit (the process is shared by
 * all runs, so later runs can inherit earlier runs' heap).
 */
import { uuidv7 } from "uuidv7";
import { openSqlDriver } from "../backend/adapters/sqlite/open-driver.ts";
import { createSqliteStore } from "../backend/store/sqlite/sqlite-store.ts";
import { zlibPayloadCodec } from "../backend/adapters/sqlite/zlib-payload-codec.ts";
import type { EnrichedEvent } from "../shared/event.ts";
import type { IdempotencyRecord } from "../backend/store/store.ts";
import { partitionOf } from "../shared/partition.ts";

const USAGE = "usage: deno run -A bench/store.ts [--rows 1000000] [--batch 1000] [--ids v7|v4] " +
  "[--driver node-sqlite|node-sqlite-worker|libsql] [--runs 3]";
const IDEM_PREFIX = `idem-${crypto.randomUUID().slice(0, 8)}-`;

function parse(args: string[]) {
  const o = { rows: 1_000_000, batch: 1000, ids: "v7", driver: "node-sqlite", runs: 3 };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split("=", 2);
    const val = inline ?? args[++i];
    if (flag === "-h" || flag === "--help") {
      console.log(USAGE);
      Deno.exit(0);
    }
    if (val === undefined) die(`missing value for ${flag}`);
    switch (flag) {
      case "--rows":
      case "--batch":
      case "--runs": {
        const n = Number(val);
        if (!Number.isInteger(n) || n < 1) die(`${flag} must be a positive integer`);
        o[flag.slice(2) as "rows" | "batch" | "runs"] = n;
        break;
      }
      case "--ids":
        if (val !== "v7" && val !== "v4" && val !== "idem") die("--ids must be v7, v4 or idem");
        o.ids = val;
        break;
      case "--driver":
        if (val !== "node-sqlite" && val !== "node-sqlite-worker" && val !== "libsql") {
          die("--driver must be node-sqlite, node-sqlite-worker or libsql");
        }
        o.driver = val;
        break;
      default:
        die(`unknown option ${flag}`);
    }
  }
  return o;
}

function die(msg: string): never {
  console.error(`${msg}\n${USAGE}`);
  Deno.exit(2);
}

const opts = parse(Deno.args);
const DEVICES = Array.from({ length: 100 }, (_, i) => `dev-${i}`);
const PARTS = DEVICES.map((d) => partitionOf(d, 8)); // server default PARTITIONS=8
const TYPES = ["temperature", "humidity", "pressure"];
const T0 = Date.parse("2026-11-22T12:00:00.000Z");
const newId = opts.ids === "v7" ? uuidv7 : opts.ids === "v4" ? () => crypto.randomUUID() : null;

/** The record a single-event request with Idempotency-Key `e.id` commits with its event. */
function recordFor(e: EnrichedEvent): IdempotencyRecord {
  return {
    keyId: "0190b2c4-1234-7abc-8def-0123456789ab",
    idemKey: e.id,
    fingerprint: "c2b08cc5cdc3cb3058",
    status: 202,
    body: `{"status":"success","message":"Event accepted for processing","data":{"id":"${e.id}",` +
      `"deviceId":"${e.deviceId}","timestamp":"${new Date(e.timestamp).toISOString()}"}}`,
    createdAt: e.receivedAt,
    expiresAt: e.receivedAt + 86_400_000,
    predictedNewIds: [e.id],
  };
}

function makeBatch(start: number, n: number): EnrichedEvent[] {
  const out = new Array<EnrichedEvent>(n);
  for (let j = 0; j < n; j++) {
    const i = start + j;
    const d = i % 100;
    out[j] = {
      id: newId ? newId() : `${IDEM_PREFIX}${i}`,
      deviceId: DEVICES[d],
      eventType: TYPES[i % 3],
      value: (i % 10_000) / 100,
      timestamp: T0 + i,
      receivedAt: T0 + i + 5,
      partition: PARTS[d],
      metadata: { site: "a" },
      data: null,
    };
  }
  return out;
}

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const fileSize = (p: string) => {
  try {
    return Deno.statSync(p).size;
  } catch {
    return 0;
  }
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

console.log(
  `store bench: driver=${opts.driver} ids=${opts.ids} rows=${opts.rows} batch=${opts.batch} runs=${opts.runs}` +
    ` | synchronous=NORMAL cache=128MiB wal_autocheckpoint=20000 | deno ${Deno.version.deno} | timed: commitEvents only (batch + ids generated before the call)`,
);

const results: { rate: number; wallRate: number; rss: number; size: number }[] = [];
for (let run = 1; run <= opts.runs; run++) {
  const dir = await Deno.makeTempDir({ prefix: "pulsestream-store-bench-" });
  const dbPath = `${dir}/store.db`;
  try {
    const driver = await openSqlDriver(`file:${dbPath}`, {
      cacheMb: 128,
      walAutocheckpointPages: 20000,
      synchronous: "normal",
      preference: opts.driver as "node-sqlite" | "node-sqlite-worker" | "libsql",
    });
    const store = await createSqliteStore({ driver, payloadCodec: zlibPayloadCodec });
    let commitMs = 0;
    let peakRss = Deno.memoryUsage().rss;
    let heapAtPeak = Deno.memoryUsage().heapUsed;
    let accepted = 0;
    const wall0 = performance.now();
    for (let done = 0; done < opts.rows; done += opts.batch) {
      const batch = makeBatch(done, Math.min(opts.batch, opts.rows - done));
      const t = performance.now();
      const records = newId ? [] : batch.map(recordFor);
      const { outcomes } = await store.commitEvents(batch, records);
      commitMs += performance.now() - t;
      for (const o of outcomes) if (o === "accepted") accepted++;
      const mem = Deno.memoryUsage();
      if (mem.rss > peakRss) {
        peakRss = mem.rss;
        heapAtPeak = mem.heapUsed;
      }
    }
    const wallMs = performance.now() - wall0;
    const stored = (await store.stats()).events;
    const openSize = fileSize(dbPath) + fileSize(`${dbPath}-wal`);
    // Checkpoint so the main file holds everything (libSQL's close does not checkpoint).
    await driver.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    await store.close();
    const size = fileSize(dbPath);
    const walLeft = fileSize(`${dbPath}-wal`);
    const rate = opts.rows / (commitMs / 1000);
    const wallRate = opts.rows / (wallMs / 1000);
    results.push({ rate, wallRate, rss: peakRss, size });
    console.log(
      `run ${run}: ${Math.round(rate)} rows/s (commit ${(commitMs / 1000).toFixed(2)} s; ` +
        `wall incl. generation ${Math.round(wallRate)} rows/s, ${(wallMs / 1000).toFixed(2)} s) | ` +
        `peak RSS ${mib(peakRss)} MiB (JS heap used ${mib(heapAtPeak)} MiB) | db ${
          mib(size)
        } MiB after checkpoint+close (${(size / opts.rows).toFixed(1)} B/event; ` +
        `db+wal before close ${mib(openSize)} MiB${walLeft ? `, wal left ${mib(walLeft)} MiB` : ""}) | ` +
        `accepted ${accepted}, stored ${stored}${
          stored !== opts.rows || accepted !== opts.rows ? "  <-- MISMATCH" : ""
        }`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
const med = (k: "rate" | "wallRate" | "rss" | "size") => median(results.map((r) => r[k]));
console.log(
  `median: ${Math.round(med("rate"))} rows/s (wall ${Math.round(med("wallRate"))} rows/s) | ` +
    `peak RSS max ${mib(Math.max(...results.map((r) => r.rss)))} MiB | db ${mib(med("size"))} MiB, ` +
    `${(med("size") / opts.rows).toFixed(1)} B/event`,
);
