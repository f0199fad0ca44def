/**
 * Online backup and restore against the real server: clients keep posting
 * events while a backup is taken through `POST /v1/admin/backup` and through
 * the `backup` CLI. Each copy is restored with the `restore` CLI and a new
 * server is started on it: every event acknowledged before the backup began is
 * there (exact ids), the restored server takes new events, and after it stops
 * its rollups equal a recomputation from its raw events. Ingest must have kept
 * answering while each copy was written. Refusals: an existing name (409
 * unless forced), a path outside BACKUP_DIR (400), a read key (403), a second
 * backup while one runs (429 + Retry-After).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectRollupsMatchEvents } from "../backend/testing/rollup-check.ts";
import {
  openStoreFile,
  runDenoScript,
  type Runtime,
  type ServerProcess,
  startServer,
} from "./server-process.ts";

const KEY = "backup-test-key-0123456789abcdef";
const CLIENTS = 4;
/** Prefilled events: ~1.2 KB of incompressible payload each, so a copy takes a measurable while. */
const PREFILL_BATCHES = 80;
const PREFILL_BATCH = 500;

const env = (dir: string, db: string) => ({
  DATABASE_URL: `file:${join(dir, db)}`,
  BACKUP_DIR: join(dir, "backups"),
  BOOTSTRAP_API_KEY: KEY,
  LOG_LEVEL: "error",
  // Long enough that a copy taken mid-ingest always holds events above its checkpoint (replayed at start).
  ROLLUP_FLUSH_MS: "2000",
  RATE_LIMIT_EVENTS_PER_SEC: "1000000000",
  RATE_LIMIT_BURST: "1000000000",
});

const headers = (key = KEY) => ({ "x-api-key": key, "content-type": "application/json" });

function randomText(bytes: number): string {
  const raw = new Uint8Array(bytes);
  crypto.getRandomValues(raw);
  return Buffer.from(raw).toString("base64");
}

async function prefill(server: ServerProcess, base: number, batches = PREFILL_BATCHES): Promise<void> {
  for (let b = 0; b < batches; b++) {
    const events = Array.from({ length: PREFILL_BATCH }, (_, i) => ({
      id: `pre-${b}-${i}`,
      deviceId: `dev-${i % 17}`,
      eventType: i % 2 ? "temperature" : "pressure",
      value: i * 0.5,
      timestamp: base + b * PREFILL_BATCH + i,
      data: { blob: randomText(900) },
    }));
    const res = await fetch(`${server.url}/v1/events`, {
      method: "POST",
      headers: headers(),
      body: JSON.stringify(events),
    });
    expect(res.status).toBe(202);
    await res.arrayBuffer();
  }
}

/** Clients posting single events until stopped; every 202 is recorded with when it was sent and answered. */
function ingestLoad(server: ServerProcess, base: number) {
  const acked = new Map<string, { sentAt: number; ackedAt: number }>();
  const failures: string[] = [];
  let running = true;
  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    for (let n = 0; running; n++) {
      const id = `live-${c}-${n}`;
      const sentAt = Date.now();
      try {
        const res = await fetch(`${server.url}/v1/events`, {
          method: "POST",
          headers: headers(),
          body: JSON.stringify({
            id,
            deviceId: `dev-${n % 17}`,
            eventType: "temperature",
            value: n,
            timestamp: base + n,
          }),
        });
        await res.arrayBuffer();
        if (res.status === 202) acked.set(id, { sentAt, ackedAt: Date.now() });
        else failures.push(`${id}: ${res.status}`);
      } catch (error) {
        failures.push(`${id}: ${error}`);
      }
    }
  });
  return {
    acked,
    failures,
    /** Ids acknowledged so far. */
    ackedIds: () => new Set(acked.keys()),
    /** The longest time, ms, inside [from, to] in which no request got its 202. */
    longestSilence(from: number, to: number) {
      const times = [from, ...[...acked.values()].map((a) => a.ackedAt).filter((t) => t > from && t < to), to]
        .sort((a, b) => a - b);
      return Math.max(...times.slice(1).map((t, i) => t - times[i]));
    },
    /** Requests sent and answered with 202 inside [from, to]. */
    answeredWithin: (from: number, to: number) =>
      [...acked.values()].filter((a) => a.sentAt >= from && a.ackedAt <= to).length,
    async stop() {
      running = false;
      await Promise.all(clients);
    },
  };
}

/** Restores `backup` as a new database, starts a server on it, posts one event, stops it; checks the copy. */
async function checkRestored(
  runtime: Runtime,
  dir: string,
  backup: string,
  db: string,
  mustHold: Set<string>,
): Promise<void> {
  const restored = await runDenoScript("backend/adapters/cli/restore.ts", [backup], {
    DATABASE_URL: `file:${join(dir, db)}`,
  });
  expect(restored.stderr).toBe("");
  expect(restored.code).toBe(0);
  expect(JSON.parse(restored.stdout)).toMatchObject({ restored: join(dir, db), previous: null });

  // The copy was taken mid-ingest: it holds events above its rollup checkpoint, which the start replays.
  const copy = await openStoreFile(`file:${join(dir, db)}`);
  try {
    expect(await copy.eventsAfter(await copy.rollupCheckpoint(), 1)).toHaveLength(1);
  } finally {
    await copy.close();
  }

  const server = await startServer(runtime, env(dir, db));
  const res = await fetch(`${server.url}/v1/events`, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify({
      id: `after-restore-${db}`,
      deviceId: "dev-1",
      eventType: "temperature",
      value: 1,
    }),
  });
  expect(res.status).toBe(202);
  expect(await server.kill("SIGTERM")).toBe(0);
  // Started cleanly: no error logged (LOG_LEVEL=error) by the migrations or the replay.
  expect(server.stdout() + server.stderr()).not.toMatch(/"level":"error"/);

  const store = await openStoreFile(`file:${join(dir, db)}`);
  try {
    const missing: string[] = [];
    for (const id of mustHold) if ((await store.getEvent(id)) === null) missing.push(id);
    expect(missing).toEqual([]);
    expect(await store.getEvent(`after-restore-${db}`)).not.toBeNull();
    expect(await expectRollupsMatchEvents(store, [60_000, 3_600_000])).toBeGreaterThan(20);
  } finally {
    await store.close();
  }
}

describe.each(["deno", "node"] as Runtime[])("online backup and restore (%s)", (runtime) => {
  it(
    "copies every event acknowledged before the backup while ingest goes on; the restored copies start exact",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "pulsestream-backup-"));
      const base = Date.now() - 3_600_000;
      const server = await startServer(runtime, env(dir, "live.db"));
      try {
        await prefill(server, base);
        const load = ingestLoad(server, base);
        await new Promise((r) => setTimeout(r, 500));

        // Through the API.
        const apiStart = Date.now();
        const beforeApi = load.ackedIds();
        const res = await fetch(`${server.url}/v1/admin/backup`, {
          method: "POST",
          headers: headers(),
          body: JSON.stringify({ name: "api.db" }),
        });
        const apiEnd = Date.now();
        expect(res.status).toBe(201);
        const body = await res.json();
        expect(body.data).toMatchObject({ name: "api.db", replaced: false });
        expect(body.data.bytes).toBeGreaterThan(PREFILL_BATCHES * PREFILL_BATCH * 900);
        const duringApi = load.answeredWithin(apiStart, apiEnd);
        const silentApi = load.longestSilence(apiStart, apiEnd);

        // Through the CLI, which opens the file itself (read-only).
        await new Promise((r) => setTimeout(r, 300));
        const cliStart = Date.now();
        const beforeCli = load.ackedIds();
        const cli = await runDenoScript("backend/adapters/cli/backup.ts", [join(dir, "cli.db")], {
          DATABASE_URL: `file:${join(dir, "live.db")}`,
        });
        const cliEnd = Date.now();
        await new Promise((r) => setTimeout(r, 200));
        await load.stop();
        expect(cli.stderr).toBe("");
        expect(cli.code).toBe(0);
        expect(JSON.parse(cli.stdout).bytes).toBeGreaterThan(PREFILL_BATCHES * PREFILL_BATCH * 900);

        expect(load.failures).toEqual([]);
        expect(beforeApi.size).toBeGreaterThan(10);
        expect(beforeCli.size).toBeGreaterThan(beforeApi.size);
        // Ingest kept answering while each copy was written: 202s came all along, never a pause of half
        // the copy (a copy on the request thread pauses them for all of it: 312 of 317 ms when tried).
        expect(duringApi, `202s answered during the ${apiEnd - apiStart} ms API backup`)
          .toBeGreaterThanOrEqual(3);
        expect(silentApi, `longest pause in 202s during a ${body.data.durationMs} ms copy`).toBeLessThan(
          body.data.durationMs / 2,
        );
        expect(load.answeredWithin(cliStart, cliEnd)).toBeGreaterThanOrEqual(3);

        const audit = await (await fetch(`${server.url}/v1/admin/audit?limit=10`, { headers: headers() }))
          .json();
        const entry = audit.data.entries.find((e: { action: string }) => e.action === "backup.created");
        expect(entry).toMatchObject({ target: "api.db", details: { force: false } });
        expect(entry.actor).not.toBe("cli");
        expect(await server.kill("SIGTERM")).toBe(0);

        // No temporary file is left beside the backup.
        expect(readdirSync(join(dir, "backups"))).toEqual(["api.db"]);
        const prefilled = new Set(
          Array.from(
            { length: PREFILL_BATCHES * PREFILL_BATCH },
            (_, i) => `pre-${Math.floor(i / PREFILL_BATCH)}-${i % PREFILL_BATCH}`,
          ),
        );
        await checkRestored(
          runtime,
          dir,
          join(dir, "backups", "api.db"),
          "from-api.db",
          new Set([...prefilled, ...beforeApi]),
        );
        await checkRestored(
          runtime,
          dir,
          join(dir, "cli.db"),
          "from-cli.db",
          new Set([...prefilled, ...beforeCli]),
        );
      } finally {
        await server.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
      }
    },
    240_000,
  );

  it(
    "refuses an existing name unless forced, paths outside BACKUP_DIR, read keys and a second backup at once",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "pulsestream-backup-refuse-"));
      const server = await startServer(runtime, env(dir, "r.db"));
      const backup = (body: unknown, key = KEY) =>
        fetch(`${server.url}/v1/admin/backup`, {
          method: "POST",
          headers: headers(key),
          body: JSON.stringify(body),
        });
      try {
        await prefill(server, Date.now() - 3_600_000);
        const first = await backup({ name: "b.db" });
        expect(first.status).toBe(201);
        const firstBytes = (await first.json()).data.bytes;

        const again = await backup({ name: "b.db" });
        expect(again.status).toBe(409);
        expect((await again.json()).errors).toEqual([expect.objectContaining({ field: "name" })]);

        const forced = await backup({ name: "b.db", force: true });
        expect(forced.status).toBe(201);
        expect((await forced.json()).data).toMatchObject({ name: "b.db", replaced: true });

        for (const name of ["../escape.db", "/tmp/abs.db", "sub/dir.db", ".hidden.db", "a\\b.db", ""]) {
          const res = await backup({ name });
          expect(res.status, name).toBe(400);
          expect((await res.json()).errors[0].field).toBe("name");
        }
        expect(existsSync(join(dir, "escape.db"))).toBe(false);
        expect((await backup({ name: "x.db", force: "yes" })).status).toBe(400);
        expect((await backup({ name: "x.db", overwrite: true })).status).toBe(400);

        const created = await fetch(`${server.url}/v1/admin/keys`, {
          method: "POST",
          headers: headers(),
          body: JSON.stringify({ name: "reader", scopes: ["read", "ingest"] }),
        });
        const readKey = (await created.json()).data.key;
        expect((await backup({ name: "r.db" }, readKey)).status).toBe(403);
        expect((await backup({ name: "r.db" }, "not-a-key-0123456789")).status).toBe(401);

        // Two at once: the second is refused while the first is being written.
        const [a, b] = await Promise.all([backup({ name: "c1.db" }), backup({ name: "c2.db" })]);
        const statuses = [a.status, b.status].sort();
        expect(statuses).toEqual([201, 429]);
        const refused = a.status === 429 ? a : b;
        expect(refused.headers.get("retry-after")).toBe("5");

        // Without a body: a time-stamped name.
        const dated = await fetch(`${server.url}/v1/admin/backup`, {
          method: "POST",
          headers: { "x-api-key": KEY },
        });
        expect(dated.status).toBe(201);
        expect((await dated.json()).data.name).toMatch(/^pulsestream-\d{8}T\d{6}Z\.db$/);

        const files = readdirSync(join(dir, "backups")).sort();
        expect(files.filter((f) => !f.startsWith("pulsestream-"))).toEqual(
          [a.status === 201 ? "c1.db" : "c2.db", "b.db"].sort(),
        );
        expect(files).toHaveLength(3);
        expect(firstBytes).toBeGreaterThan(0);
      } finally {
        await server.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});

describe("restore", () => {
  it(
    "refuses a database in use, a damaged or foreign backup and an existing file without --force",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "pulsestream-restore-"));
      const live = join(dir, "live.db");
      const restore = (backup: string, db: string, ...flags: string[]) =>
        runDenoScript("backend/adapters/cli/restore.ts", [backup, ...flags], { DATABASE_URL: `file:${db}` });
      const cliBackup = (file: string, ...flags: string[]) =>
        runDenoScript("backend/adapters/cli/backup.ts", [file, ...flags], { DATABASE_URL: `file:${live}` });
      let server = await startServer("deno", env(dir, "live.db"));
      try {
        await prefill(server, Date.now() - 3_600_000, 2);
        const made = await cliBackup(join(dir, "b.db"));
        expect(made.code).toBe(0);
        const again = await cliBackup(join(dir, "b.db"));
        expect(again.code).toBe(1);
        expect(again.stderr).toMatch(/b\.db exists/);
        expect((await cliBackup(join(dir, "b.db"), "--force")).code).toBe(0);

        // In use: refused, and the server goes on with its database.
        const busy = await restore(join(dir, "b.db"), live, "--force");
        expect(busy.code).toBe(1);
        expect(busy.stderr).toMatch(/in use \(stop the server first\)/);
        const res = await fetch(`${server.url}/v1/events`, {
          method: "POST",
          headers: headers(),
          body: JSON.stringify({ id: "after-refusal", deviceId: "d", eventType: "t", value: 1 }),
        });
        expect(res.status).toBe(202);

        // Damaged and foreign files change nothing.
        const damaged = join(dir, "damaged.db");
        const bytes = readFileSync(join(dir, "b.db"));
        bytes.fill(0x5a, 8192, 8192 + 16384); // pages 3-6 overwritten
        writeFileSync(damaged, bytes);
        const fresh = join(dir, "fresh.db");
        const bad = await restore(damaged, fresh);
        expect(bad.code).toBe(1);
        expect(bad.stderr).toMatch(/damaged|not a PulseStream database/);
        writeFileSync(join(dir, "text.db"), "not a database at all, just text");
        expect((await restore(join(dir, "text.db"), fresh)).stderr).toMatch(/not a PulseStream database/);
        expect(existsSync(fresh)).toBe(false);

        expect(await server.kill("SIGTERM")).toBe(0);
        const exists = await restore(join(dir, "b.db"), live);
        expect(exists.code).toBe(1);
        expect(exists.stderr).toMatch(/exists: pass --force/);
        const done = await restore(join(dir, "b.db"), live, "--force");
        expect(done.code).toBe(0);
        const { previous } = JSON.parse(done.stdout);
        expect(previous).toMatch(/live\.db\.pre-restore-\d{8}T\d{6}Z$/);
        expect(existsSync(previous)).toBe(true);
        expect(existsSync(`${live}-wal`) || existsSync(`${live}-shm`)).toBe(false);

        server = await startServer("deno", env(dir, "live.db"));
        const probe = await fetch(`${server.url}/v1/events/pre-1-7`, { headers: headers() });
        expect(probe.status).toBe(200);
        // The event acknowledged after the backup is in the previous file, not in the restored one.
        expect((await fetch(`${server.url}/v1/events/after-refusal`, { headers: headers() })).status).toBe(
          404,
        );
        expect(await server.kill("SIGTERM")).toBe(0);
      } finally {
        await server.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
