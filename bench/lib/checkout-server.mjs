/**
 * Starts the PulseStream server of any checkout (`root`, e.g. the code before
 * a change) as a child process on a free 127.0.0.1 port with a fresh temporary
 * database, for benchmarks that compare checkouts or runtimes. Resolves once
 * `/livez` answers; `stop()` kills it (SIGKILL) and removes the database.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export function freePort() {
  return new Promise((res) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/**
 * @param {{ root: string, runtime: "deno" | "node", env: Record<string, string> }} options
 * @returns {Promise<{ url: string, port: number, pid: number, rss(): number, stop(): Promise<void> }>}
 */
export async function startCheckoutServer({ root, runtime, env }) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), "pulsestream-checkout-"));
  const deno = [path.join(root, "node_modules/deno/deno"), path.join(HERE, "node_modules/deno/deno")]
    .find(existsSync);
  const [cmd, cmdArgs] = runtime === "deno"
    ? [deno, ["run", "-A", path.join(root, "main.tsx")]]
    : [process.execPath, ["--import", "tsx", path.join(root, "backend/adapters/node/main.ts")]];
  const child = spawn(cmd, cmdArgs, {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME ?? "/tmp",
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_URL: `file:${path.join(dir, "bench.db")}`,
      LOG_LEVEL: "error",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${url}/livez`)).ok) break;
    } catch { /* starting */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    pid: child.pid,
    rss() {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        return m ? Number(m[1]) * 1024 : 0;
      } catch {
        return 0;
      }
    },
    async stop() {
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
