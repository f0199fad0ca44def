import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { createSqliteStore } from "../store/sqlite/sqlite-store.ts";
import { event } from "../store/store-contract.ts";
import type { Store } from "../store/store.ts";
import { hookedDriver } from "../testing/store-faults.ts";
import type { ExportFormat } from "./export-formats.ts";
import { exportStream } from "./export-service.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");
const range = { source: "events" as const, from: NOW - 60_000, to: NOW + 60_000 };

/** A real store whose `failAt`-th read of a partition (1-based) fails like a disk error. */
async function withStore(fn: (store: Store, failAt: (n: number) => void) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-export-"));
  let reads = 0;
  let failAt = Infinity;
  const driver = await openSqlDriver(`file:${join(dir, "s.db")}`, {
    cacheMb: 8,
    walAutocheckpointPages: 1000,
    synchronous: "normal",
    preference: "libsql",
  });
  const store = await createSqliteStore({
    driver: hookedDriver(driver, {
      beforeRead(sql) {
        if (!/FROM events_2026/.test(sql)) return;
        if (++reads === failAt) throw new Error("injected: disk I/O error");
      },
    }),
  });
  try {
    await fn(store, (n) => {
      reads = 0;
      failAt = n;
    });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Reads the stream to its end or its error: the text that arrived, and the error if any. */
async function drain(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes: concat(chunks), error: null };
      chunks.push(value);
    }
  } catch (error) {
    return { bytes: concat(chunks), error: error as Error };
  }
}

const concat = (chunks: Uint8Array[]) => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) out.set(c, (at += c.length) - c.length);
  return out;
};

describe("Export failing part-way", () => {
  const cases: [ExportFormat, number, (text: string) => void][] = [
    ["ndjson", 2, (text) => {
      const lines = text.trim().split("\n");
      expect(lines.slice(0, 3).map((l) => JSON.parse(l).id)).toEqual(["e-0", "e-1", "e-2"]);
      expect(lines.slice(3)).toEqual([
        '{"error":"export failed after 3 records; this output is incomplete"}',
      ]);
    }],
    // The CSV's first pass (for its columns) reads once; the second pass fails on its second page.
    ["csv", 3, (text) => {
      expect(text.split("\r\n")).toEqual([
        "id,deviceId,eventType,value,timestamp",
        ...[0, 1, 2].map((i) => `e-${i},dev-1,temperature,${i},${NOW + i}`),
        "#ERROR: export failed after 3 records; this output is incomplete",
        "",
      ]);
    }],
    // No room for a marker: the file ends without Parquet's footer, which every reader refuses.
    ["parquet", 2, (text) => {
      expect(text.startsWith("PAR1")).toBe(true);
      expect(text.endsWith("PAR1")).toBe(false);
    }],
  ];
  for (const [format, failAt, check] of cases) {
    it(`${format}: ends with the failure marker, then the stream errors`, async () => {
      await withStore(async (store, fail) => {
        await store.commitEvents(
          Array.from({ length: 10 }, (_, i) => event(`e-${i}`, { value: i, timestamp: NOW + i })),
        );
        const told: number[] = [];
        fail(failAt);
        const stream = await exportStream(store, { ...range, format }, {
          pageSize: 3,
          onError: (_, records) => told.push(records),
        });
        const { bytes, error } = await drain(stream);
        expect(error?.message).toBe("injected: disk I/O error");
        expect(told).toEqual([3]);
        check(new TextDecoder("latin1").decode(bytes));
      });
    });
  }
});

describe("CSV export", () => {
  it("prefixes text cells that a spreadsheet would run as a formula with ', never numbers", async () => {
    await withStore(async (store) => {
      await store.commitEvents([event("=1+1", {
        deviceId: "@dev",
        eventType: "+t",
        value: -5,
        timestamp: NOW,
        metadata: { a: "-2+3", b: "\tx", c: "\rx", d: -7, e: "ok=1" },
      })]);
      const text = await new Response(await exportStream(store, { ...range, format: "csv" })).text();
      expect(text.split("\r\n")).toEqual([
        "id,deviceId,eventType,value,timestamp,a,b,c,d,e",
        `'=1+1,'@dev,'+t,-5,${NOW},'-2+3,'\tx,"'\rx",-7,ok=1`,
        "",
      ]);
    });
  });
});
