/**
 * Scoped server processes for the tests of hostile-load bounds: a fresh
 * database directory, the server started with an admin key and `env`, and
 * always killed (SIGKILL) and cleaned up; plus how many of a list of event ids
 * the server has stored.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Runtime, type ServerProcess, startServer } from "./server-process.ts";

/** Runs `fn` against a server on `runtime` whose bootstrap (admin) key is `key`. */
export async function withServer(
  runtime: Runtime,
  options: { key: string; env?: Record<string, string> },
  fn: (server: ServerProcess) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "pulsestream-bounds-"));
  const server = await startServer(runtime, {
    DATABASE_URL: `file:${join(dir, "b.db")}`,
    BOOTSTRAP_API_KEY: options.key,
    LOG_LEVEL: "warn",
    ...options.env,
  });
  try {
    await fn(server);
  } finally {
    await server.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * How many of `ids` `GET /v1/events/:id` finds (read with `key`). A read refused by the key's read
 * rate limit (429) is retried after its `Retry-After`; any answer but 200 or 404 fails the count.
 */
export async function countStored(
  server: ServerProcess,
  key: string,
  ids: readonly string[],
): Promise<number> {
  let found = 0;
  for (const id of ids) {
    for (;;) {
      const res = await fetch(`${server.url}/v1/events/${encodeURIComponent(id)}`, {
        headers: { "x-api-key": key },
      });
      await res.arrayBuffer();
      if (res.status === 429) {
        await new Promise((r) => setTimeout(r, Number(res.headers.get("retry-after") ?? 1) * 1000));
        continue;
      }
      if (res.status !== 200 && res.status !== 404) throw new Error(`GET /v1/events/${id}: ${res.status}`);
      if (res.status === 200) found++;
      break;
    }
  }
  return found;
}
