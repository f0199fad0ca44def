/**
 * The demo traffic simulator (`npm run simulate`): its events (bench/lib/traffic.ts), and the CLI
 * against the real server process, which it leaves on its own after --duration with no more than
 * --concurrency requests in flight and with counts that match what the server counted.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Traffic } from "../bench/lib/traffic.ts";
import { seededRandom } from "../backend/testing/seeded-random.ts";
import { runDenoScript, type ServerProcess, startServer } from "./server-process.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");

describe("Traffic", () => {
  it("resends accepted events exactly, same id and same payload, as duplicates", () => {
    const traffic = new Traffic({
      devices: 5,
      shares: { invalid: 0, duplicate: 0.5, late: 0 },
      random: seededRandom(7),
    });
    const accepted = new Set<string>();
    let duplicates = 0;
    for (let i = 0; i < 400; i++) {
      const { event, kind } = traffic.next(NOW + i);
      if (kind === "duplicate") {
        duplicates++;
        expect(accepted.has(JSON.stringify(event))).toBe(true);
      } else {
        expect(kind).toBe("valid");
        expect(accepted.has(JSON.stringify(event))).toBe(false); // a new event never repeats an id
        traffic.accepted(event);
        accepted.add(JSON.stringify(event));
      }
    }
    expect(duplicates).toBeGreaterThan(100);
    expect(duplicates).toBeLessThan(300);
  });

  it("sends no duplicate before the server accepted an event", () => {
    const traffic = new Traffic({ devices: 5, shares: { invalid: 0, duplicate: 1, late: 0 } });
    expect([traffic.next(NOW).kind, traffic.next(NOW).kind]).toEqual(["valid", "valid"]);
  });

  it("makes invalid events and late ones 1 to 11 minutes old, by their shares", () => {
    const invalid = new Traffic({ devices: 5, shares: { invalid: 1, duplicate: 0, late: 0 } });
    for (let i = 0; i < 50; i++) {
      const { event, kind } = invalid.next(NOW);
      expect(kind).toBe("invalid");
      expect(event.deviceId === "" || event.value === "NaN").toBe(true);
    }
    const late = new Traffic({ devices: 5, shares: { invalid: 0, duplicate: 0, late: 1 } });
    for (let i = 0; i < 50; i++) {
      const { event, kind } = late.next(NOW);
      expect(kind).toBe("late");
      const age = NOW - (event.timestamp as number);
      expect(age >= 60_000 && age <= 660_000).toBe(true);
    }
  });
});

describe("npm run simulate", () => {
  const KEY = "simulate-test-key-0123456789abcdef";
  let dir: string;
  let server: ServerProcess;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pulsestream-simulate-"));
    server = await startServer("deno", {
      DATABASE_URL: `file:${join(dir, "test.db")}`,
      BOOTSTRAP_API_KEY: KEY,
      LOG_LEVEL: "warn",
    });
  });
  afterAll(async () => {
    await server?.kill("SIGTERM");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("stops by itself after --duration, keeps the window, and counts what the server counted", async () => {
    const run = await runDenoScript("bench/simulate.ts", [
      ...["--url", server.url, "--key", KEY, "--duration", "2", "--rate", "400", "--devices", "10"],
      ...["--concurrency", "2", "--batch", "10", "--invalid", "0.1", "--duplicate", "0.2", "--late", "0.1"],
      ...["--unauthorized", "0.02"],
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const summary = JSON.parse(/^summary: (.*)$/m.exec(run.stdout)![1]);
    expect(summary.maxInFlight).toBeLessThanOrEqual(2);
    const { sent, outcomes } = summary;
    expect(sent.valid + sent.late).toBeGreaterThan(0);
    expect(sent.duplicate).toBeGreaterThan(0);
    // Every exact resend is a duplicate, every invalid event is rejected, the rest is stored.
    expect(outcomes).toEqual({
      accepted: sent.valid + sent.late,
      duplicate: sent.duplicate,
      rejected: sent.invalid,
    });
    expect(summary.statuses["401"] ?? 0).toBe(sent.unauthorized);
    // The server's own counts say the same.
    const scrape = await (await fetch(`${server.url}/metrics`)).text();
    const total = (outcome: string) =>
      [...scrape.matchAll(/^pulsestream_events_total\{([^}]*)\} (\S+)$/gm)]
        .filter((m) => m[1].includes('transport="http"') && m[1].includes(`outcome="${outcome}"`))
        .reduce((sum, m) => sum + Number(m[2]), 0);
    expect({ accepted: total("accepted"), duplicate: total("duplicate"), rejected: total("rejected") })
      .toEqual(outcomes);
  });

  it("refuses --duration 0 (it used to mean forever) and names --forever", async () => {
    const run = await runDenoScript("bench/simulate.ts", ["--key", KEY, "--duration", "0"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("pass --forever");
  });
});
