import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openSqlDriver } from "../adapters/sqlite/open-driver.ts";
import { checkBackupName, defaultBackupName } from "../admin/backup-service.ts";
import { createSqliteStore } from "../store/sqlite/sqlite-store.ts";
import { FakeClock, withApp } from "../testing/with-app.ts";

const NOW = Date.parse("2026-11-22T12:00:00.000Z");

async function openCopy(path: string) {
  return createSqliteStore({
    driver: await openSqlDriver(`file:${path}`, {
      cacheMb: 8,
      walAutocheckpointPages: 1000,
      synchronous: "normal",
      preference: "libsql",
    }),
  });
}

describe("backup names", () => {
  it("takes plain file names and refuses anything that could leave the directory", () => {
    for (const ok of ["a.db", "nightly-2026.12.07_1.sqlite", "X"]) expect(checkBackupName(ok)).toBe(ok);
    for (
      const bad of [
        "",
        "../a.db",
        "a/../../b",
        "/abs.db",
        "dir/a.db",
        "a\\b",
        ".hidden",
        "a..b",
        "a b",
        "é.db",
      ]
    ) {
      expect(() => checkBackupName(bad), bad).toThrow("Invalid backup name");
    }
    expect(() => checkBackupName("x".repeat(129))).toThrow("Invalid backup name");
    expect(defaultBackupName(NOW)).toBe("pulsestream-20261122T120000Z.db");
  });
});

describe("POST /v1/admin/backup", () => {
  it("writes a copy holding every committed event, audits it, and refuses what it must", async () => {
    await withApp(async (f) => {
      const events = Array.from({ length: 50 }, (_, i) => ({
        id: `b-${i}`,
        deviceId: `d-${i % 3}`,
        eventType: "t",
        value: i,
        timestamp: NOW - 60_000 + i,
      }));
      expect((await f.request("/v1/events", { method: "POST", body: JSON.stringify(events) })).status).toBe(
        202,
      );

      const res = await f.request("/v1/admin/backup", { method: "POST" });
      expect(res.status).toBe(201);
      const { data } = await res.json();
      expect(data).toMatchObject({
        name: "pulsestream-20261122T120000Z.db",
        startedAt: "2026-11-22T12:00:00.000Z",
        replaced: false,
      });
      const path = join(f.dir, "backups", data.name);
      expect(data.bytes).toBeGreaterThan(0);
      expect(readdirSync(join(f.dir, "backups"))).toEqual([data.name]);

      // The copy keeps incremental auto-vacuum (header offset 64), so retention can still shrink the file.
      const header = readFileSync(path).subarray(0, 100);
      expect(new TextDecoder().decode(header.subarray(0, 15))).toBe("SQLite format 3");
      expect(new DataView(header.buffer, header.byteOffset).getUint32(64)).toBe(1);
      const copy = await openCopy(path);
      try {
        expect((await copy.stats()).events).toBe(50);
        expect((await copy.getEvent("b-49"))?.value).toBe(49);
      } finally {
        await copy.close();
      }

      const audit = await (await f.request("/v1/admin/audit?limit=5")).json();
      expect(audit.data.entries[0]).toMatchObject({
        action: "backup.created",
        target: data.name,
        details: { bytes: data.bytes, force: false },
      });

      const again = await f.request("/v1/admin/backup", {
        method: "POST",
        body: JSON.stringify({ name: data.name }),
      });
      expect(again.status).toBe(409);
      const outside = await f.request("/v1/admin/backup", {
        method: "POST",
        body: JSON.stringify({ name: "../outside.db" }),
      });
      expect(outside.status).toBe(400);
      expect(existsSync(join(f.dir, "outside.db"))).toBe(false);
      const typo = await f.request("/v1/admin/backup", {
        method: "POST",
        body: JSON.stringify({ name: "a.db", forced: true }),
      });
      expect(typo.status).toBe(400);
      expect((await typo.json()).errors[0]).toMatchObject({ field: "forced" });
      const text = await f.request("/v1/admin/backup", {
        method: "POST",
        body: "name=a.db",
        headers: { "content-type": "text/plain" },
      });
      expect(text.status).toBe(400);

      // One at a time: the second request, while the first copies, gets 429 + Retry-After.
      const [first, second] = await Promise.all([
        f.request("/v1/admin/backup", { method: "POST", body: JSON.stringify({ name: "one.db" }) }),
        f.request("/v1/admin/backup", { method: "POST", body: JSON.stringify({ name: "two.db" }) }),
      ]);
      expect(first.status).toBe(201);
      expect(second.status).toBe(429);
      expect(second.headers.get("retry-after")).toBe("5");
      expect(f.server.backups.running).toBeNull();
      const metrics = await (await f.request("/metrics")).text();
      expect(metrics).toContain('pulsestream_backups_total{outcome="written"} 2\n');
      expect(metrics).toContain('pulsestream_backups_total{outcome="refused"} 2\n'); // 409 and 429
      expect(metrics).toContain('pulsestream_backups_total{outcome="failed"} 0\n');
      expect(metrics).toContain("pulsestream_backup_running 0\n");
      expect(metrics).toContain(`pulsestream_backup_last_success_timestamp_seconds ${NOW / 1000}\n`);
      // (the -wal/-shm beside the first copy are this test's, from opening it as a store above)
      const files = readdirSync(join(f.dir, "backups")).filter((n) => !/-(wal|shm)$/.test(n));
      expect(files.sort()).toEqual([data.name, "one.db"].sort());
    }, { clock: new FakeClock(NOW), backups: true });
  });

  it("answers 500 without internals when the copy cannot be written, and the next backup may run", async () => {
    await withApp(async (f) => {
      writeFileSync(join(f.dir, "backups"), "a file where the backup directory should be");
      for (let i = 0; i < 2; i++) {
        const res = await f.request("/v1/admin/backup", {
          method: "POST",
          body: JSON.stringify({ name: "x.db" }),
        });
        expect(res.status).toBe(500);
        const body = await res.json();
        expect(body.message).toBe("The backup could not be written; the cause is in the server log");
        expect(JSON.stringify(body)).not.toMatch(/backups|ENOTDIR|EEXIST/);
      }
      expect(f.server.backups.running).toBeNull();
      const metrics = await (await f.request("/metrics")).text();
      expect(metrics).toContain('pulsestream_backups_total{outcome="failed"} 2\n');
      expect(metrics).not.toContain("pulsestream_backup_last_success_timestamp_seconds");
    }, { backups: true });
  });

  it("is 404 where the database is not a local file given to it, 403 for a key without admin", async () => {
    await withApp(async (f) => {
      const created = await f.request("/v1/admin/keys", {
        method: "POST",
        body: JSON.stringify({ name: "r", scopes: ["read", "ingest"] }),
      });
      const key = (await created.json()).data.key;
      expect((await f.request("/v1/admin/backup", { method: "POST", key })).status).toBe(403);
      expect((await f.request("/v1/admin/backup", { method: "POST", key: null })).status).toBe(401);
      const res = await f.request("/v1/admin/backup", { method: "POST" });
      expect(res.status).toBe(404);
      expect((await res.json()).message).toMatch(/local SQLite database file/);
    });
  });
});
