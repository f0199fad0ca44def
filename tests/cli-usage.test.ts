/**
 * Every CLI reads its command line one way (backend/adapters/cli/usage.ts): `--help` prints the
 * usage on stdout and exits 0; an unknown option or a wrong argument prints one line and the
 * usage on stderr and exits 2, without a stack trace. Each CLI is run as a real process.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runDenoScript } from "./server-process.ts";

const dir = mkdtempSync(join(tmpdir(), "pulsestream-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { DATABASE_URL: `file:${join(dir, "db.sqlite")}`, HOME: dir };

const CLIS: { name: string; path: string; mistakes: { args: string[]; line: string }[] }[] = [
  {
    name: "keys",
    path: "backend/adapters/cli/keys.ts",
    mistakes: [
      { args: ["list", "--bogus"], line: "Unknown option '--bogus'" },
      { args: ["frobnicate"], line: "unknown command: frobnicate" },
      { args: [], line: "a command is needed" },
      { args: ["revoke"], line: "revoke needs a key id" },
      { args: ["create", "--name"], line: "Option '--name <value>' argument missing" },
      { args: ["create", "--name", "x"], line: "create needs --name and --scopes" },
    ],
  },
  {
    name: "import",
    path: "backend/adapters/cli/import.ts",
    mistakes: [
      { args: ["f.csv", "--nope"], line: "Unknown option '--nope'" },
      { args: [], line: "a file is needed" },
      { args: ["a.csv", "b.csv"], line: "unexpected argument: b.csv" },
    ],
  },
  {
    name: "backup",
    path: "backend/adapters/cli/backup.ts",
    mistakes: [
      { args: ["--frce", "x.db"], line: "Unknown option '--frce'" },
      { args: [], line: "a file is needed" },
    ],
  },
  {
    name: "restore",
    path: "backend/adapters/cli/restore.ts",
    mistakes: [
      { args: ["x.db", "-f"], line: "Unknown option '-f'" },
      { args: ["a.db", "b.db"], line: "unexpected argument: b.db" },
    ],
  },
  {
    name: "simulate",
    path: "bench/simulate.ts",
    mistakes: [
      { args: ["--devics", "5"], line: "Unknown option '--devics'" },
      { args: ["extra"], line: "unexpected argument: extra" },
    ],
  },
];

describe.each(CLIS)("$name command line", ({ name, path, mistakes }) => {
  it("--help and -h print the usage and exit 0", async () => {
    for (const flag of ["--help", "-h"]) {
      const run = await runDenoScript(path, [flag], env);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^usage:(\\n  | )${name} `));
      expect(run.stdout).toContain(`${name} --help`);
      expect(run.stderr).toBe("");
    }
  });

  it.each(mistakes)("$args: one line, the usage, exit 2, no stack trace", async ({ args, line }) => {
    const run = await runDenoScript(path, args, env);
    expect(run.code, run.stderr).toBe(2);
    const [first, ...rest] = run.stderr.trimEnd().split("\n");
    expect(first.startsWith(line), first).toBe(true);
    expect(rest[0]).toMatch(/^usage:/);
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(run.stdout).toBe("");
  });
});
