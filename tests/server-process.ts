/**
 * Starts the real server as a child process (Deno or Node) on a free port and
 * stops it by PID. Used by the black-box and crash tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { openSqlDriver } from "../backend/adapters/sqlite/open-driver.ts";
import { createSqliteStore } from "../backend/store/sqlite/sqlite-store.ts";
import { zlibPayloadCodec } from "../backend/adapters/sqlite/zlib-payload-codec.ts";
import type { Store } from "../backend/store/store.ts";

export type Runtime = "deno" | "node";

export const ROOT = resolve(import.meta.dirname, "..");

/** The deno binary from the `deno` npm package (the ELF itself, so signals reach the server). */
export function denoBinary(): string {
  const candidates = [
    join(ROOT, "node_modules/deno/deno"),
    join(ROOT, "node_modules/@deno/linux-x64-glibc/deno"),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error("deno binary not found: run npm install");
  return found;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Sends `signal` and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export function command(runtime: Runtime): [string, string[]] {
  return runtime === "deno"
    ? [denoBinary(), ["run", "-A", join(ROOT, "main.tsx")]]
    : [process.execPath, ["--import", "tsx", join(ROOT, "backend/adapters/node/main.ts")]];
}

/** Starts the server and resolves once `/livez` answers. */
export async function startServer(
  runtime: Runtime,
  env: Record<string, string>,
  options: { port?: number; timeoutMs?: number } = {},
): Promise<ServerProcess> {
  const port = options.port ?? await freePort();
  const [cmd, args] = command(runtime);
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      HOST: "127.0.0.1",
      PORT: String(port),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  const server: ServerProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    stdout: () => out,
    stderr: () => err,
    async kill(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return await exited;
    },
  };
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${err}`);
    try {
      const res = await fetch(`${server.url}/livez`);
      if (res.ok) return server;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await server.kill("SIGKILL");
  throw new Error(`server did not become live: ${err}`);
}

/** Runs the server command with `env` to completion (for start-up failures). */
export function runToExit(runtime: Runtime, env: Record<string, string>): Promise<ProcessResult> {
  const [cmd, args] = command(runtime);
  return runProcess(cmd, args, env);
}

/** Runs the `keys` CLI (a Deno task) to completion. */
export function runCli(args: string[], env: Record<string, string>): Promise<ProcessResult> {
  return runDenoScript("backend/adapters/cli/keys.ts", args, env);
}

/** Runs a Deno script of the repository (`path` relative to its root) to completion. */
export function runDenoScript(
  path: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<ProcessResult> {
  return runProcess(denoBinary(), ["run", "-A", join(ROOT, path), ...args], env);
}

export interface ProcessResult {
  code: number | null;
  stderr: string;
  stdout: string;
}

function runProcess(cmd: string, args: string[], env: Record<string, string>): Promise<ProcessResult> {
  return new Promise((res) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.once("exit", (code) => res({ code, stderr: err, stdout: out }));
  });
}

/** Opens the store of a (stopped or killed) server's database file, to inspect what it holds. */
export async function openStoreFile(url: string): Promise<Store> {
  return createSqliteStore({
    payloadCodec: zlibPayloadCodec,
    driver: await openSqlDriver(url, {
      cacheMb: 16,
      walAutocheckpointPages: 1000,
      synchronous: "normal",
      preference: "libsql",
    }),
  });
}
