/**
 * A private InfluxDB 1.x (`influxd`, Debian package `influxdb`) for side-by-side benchmarks: its own
 * config, data, WAL and meta directories in a temp dir, HTTP and RPC on free 127.0.0.1 ports,
 * no monitor database, no reporting, no series limits. `stop()` ends it by PID (SIGTERM, SIGKILL
 * after 10 s) and removes the directory. Never touches a system service or the default ports.
 */

export interface InfluxServer {
  url: string;
  pid: number;
  dir: string;
  /** Bytes of data + WAL (the meta store is a few KB and not counted). */
  diskBytes(): number;
  stop(): Promise<void>;
}

/** Whether an `influxd` binary is on PATH, and its version line. */
export async function influxVersion(): Promise<string | null> {
  try {
    const out = await new Deno.Command("influxd", { args: ["version"], stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Bytes of the regular files under `path` (recursively), skipping names that end in `skip`. */
export function treeBytes(path: string, skip?: string): number {
  let total = 0;
  for (const entry of Deno.readDirSync(path)) {
    const p = `${path}/${entry.name}`;
    if (entry.isDirectory) total += treeBytes(p, skip);
    else if (entry.isFile && !(skip && entry.name.endsWith(skip))) total += Deno.statSync(p).size;
  }
  return total;
}

/** Starts influxd and creates database `db`; resolves once it answers /ping. */
export async function startInflux(db: string): Promise<InfluxServer> {
  const dir = await Deno.makeTempDir({ prefix: "influx-bench-" });
  const http = freePort();
  const rpc = freePort();
  // Snapshot the cache to TSM soon after writes stop, so the size after the run is the on-disk form.
  const config = `reporting-disabled = true
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
  max-series-per-database = 0
  max-values-per-tag = 0
  cache-snapshot-write-cold-duration = "5s"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:${http}"
  log-enabled = false
  max-body-size = 0
[logging]
  level = "warn"
`;
  await Deno.writeTextFile(`${dir}/influxdb.conf`, config);
  const child = new Deno.Command("influxd", {
    args: ["run", "-config", `${dir}/influxdb.conf`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${http}`;
  let up = false;
  for (let i = 0; i < 300 && !up; i++) {
    try {
      const r = await fetch(`${url}/ping`);
      await r.body?.cancel();
      up = r.status === 204;
    } catch { /* not listening yet */ }
    if (!up) await new Promise((r) => setTimeout(r, 50));
  }
  const stop = async () => {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await child.status;
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true });
  };
  if (!up) {
    await stop();
    throw new Error(`influxd did not answer /ping on ${url}`);
  }
  const created = await fetch(`${url}/query`, {
    method: "POST",
    body: new URLSearchParams({ q: `CREATE DATABASE ${db}` }),
  });
  await created.body?.cancel();
  if (!created.ok) {
    await stop();
    throw new Error(`CREATE DATABASE answered ${created.status}`);
  }
  return {
    url,
    pid: child.pid,
    dir,
    diskBytes: () => treeBytes(`${dir}/data`) + treeBytes(`${dir}/wal`),
    stop,
  };
}

/** Number of points stored in `db` (count of the `value` field over all measurements). */
export async function influxPoints(
  url: string,
  db: string,
  measurements: readonly string[],
): Promise<number> {
  let total = 0;
  for (const m of measurements) {
    const r = await fetch(
      `${url}/query?${new URLSearchParams({ db, q: `SELECT count(value) FROM "${m}"` })}`,
    );
    const body = await r.json();
    total += Number(body.results?.[0]?.series?.[0]?.values?.[0]?.[1] ?? 0);
  }
  return total;
}
