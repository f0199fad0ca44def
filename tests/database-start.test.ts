/**
 * Start-up on a database file that cannot be used: the real server process prints one line naming
 * the file and the real cause, exits with 1, and leaves the file as it was. A new database is
 * created only where no file exists.
 */
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSqlDriver } from "../backend/adapters/sqlite/open-driver.ts";
import { createSqliteStore } from "../backend/store/sqlite/sqlite-store.ts";
import { zlibPayloadCodec } from "../backend/adapters/sqlite/zlib-payload-codec.ts";
import { command, type ProcessResult, ROOT, runCli, type Runtime, startServer } from "./server-process.ts";

let dir = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "pulsestream-dbstart-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A database with the schema, as a server leaves it, all in the main file (the log checkpointed). */
async function realDatabase(path: string): Promise<void> {
  const driver = await openSqlDriver(`file:${path}`, {
    cacheMb: 16,
    walAutocheckpointPages: 1000,
    synchronous: "normal",
    preference: "libsql",
  });
  const store = await createSqliteStore({ driver, payloadCodec: zlibPayloadCodec });
  await driver.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  await store.close();
}

/**
 * Runs the server to its exit; one that starts after all is killed (SIGKILL, by PID) after
 * `timeoutMs`, so that the test fails instead of leaving it running.
 */
function runToExit(
  runtime: Runtime,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<ProcessResult> {
  const [cmd, args] = command(runtime);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Makes `path` impossible to open for writing, also for root (the tests run as root in CI):
 * `chattr +i` where the process may set it, else permissions. Returns the undo, or null when
 * neither takes effect here.
 */
function makeReadOnly(path: string): (() => void) | null {
  if (process.getuid?.() !== 0) {
    chmodSync(path, 0o444);
    return () => chmodSync(path, 0o644);
  }
  try {
    execFileSync("chattr", ["+i", path], { stdio: "ignore" });
    return () => execFileSync("chattr", ["-i", path], { stdio: "ignore" });
  } catch {
    return null;
  }
}

const runtimes: Runtime[] = ["deno", "node"];
for (const runtime of runtimes) {
  describe(`start-up on an unusable database (${runtime})`, () => {
    const start = (path: string) =>
      runToExit(runtime, { DATABASE_URL: `file:${path}`, PORT: "0", LOG_LEVEL: "info" });

    it("refuses a file that is not a database, naming it and SQLite's cause", async () => {
      const path = join(dir, "random.db");
      const bytes = Buffer.alloc(8192, 0x5a);
      writeFileSync(path, bytes);
      const result = await start(path);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(`Cannot open the database ${path}: file is not a database`);
      expect(result.stdout).toBe("");
      expect(readFileSync(path).equals(bytes)).toBe(true);
    });

    it("refuses a database whose schema page is corrupt", async () => {
      const path = join(dir, "malformed.db");
      await realDatabase(path);
      const bytes = readFileSync(path);
      bytes.fill(0xff, 100, 3000); // page 1 after the 100-byte header: the schema table
      writeFileSync(path, bytes);
      const result = await start(path);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(`Cannot open the database ${path}: database disk image is malformed`);
    });

    it("refuses an existing empty file instead of initialising it", async () => {
      const path = join(dir, "empty.db");
      writeFileSync(path, "");
      const result = await start(path);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `Cannot open the database ${path}: the file exists but is empty (0 bytes); a new database is ` +
          "created only where no file exists, so remove it or point DATABASE_URL at the right file",
      );
      expect(readFileSync(path).length).toBe(0);
      expect(existsSync(`${path}-wal`)).toBe(false);
    });

    it("refuses a file it may not write, with the operating system's cause", async (ctx) => {
      const path = join(dir, "readonly.db");
      await realDatabase(path);
      const undo = makeReadOnly(path);
      if (!undo) return ctx.skip("neither chattr +i nor permissions can make a file read-only here");
      try {
        const result = await start(path);
        expect(result.code).toBe(1);
        const lines = result.stderr.trim().split("\n");
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(
          new RegExp(
            `^Cannot open the database ${
              path.replace(/[.]/g, "\\.")
            } for writing: (EPERM: operation not permitted|EACCES: permission denied), open '`,
          ),
        );
      } finally {
        undo();
      }
    });
  });
}

describe("the keys CLI on an unusable database", () => {
  it("refuses an empty file with the same line", async () => {
    const path = join(dir, "empty.db");
    writeFileSync(path, "");
    const result = await runCli(["list"], { DATABASE_URL: `file:${path}` });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(
      new RegExp(
        `^Cannot open the database ${
          path.replace(/[.]/g, "\\.")
        }: the file exists but is empty \\(0 bytes\\);`,
      ),
    );
    expect(readFileSync(path).length).toBe(0);
  });
});

describe("start-up where no file exists", () => {
  it("creates a new database (deno)", async () => {
    const path = join(dir, "sub", "new.db");
    const server = await startServer("deno", { DATABASE_URL: `file:${path}`, LOG_LEVEL: "warn" });
    try {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      expect(readFileSync(path).subarray(0, 16).toString("latin1")).toBe("SQLite format 3\u0000");
    } finally {
      expect(await server.kill("SIGTERM")).toBe(0);
    }
  });
});
