/**
 * Online backups of a local SQLite database file: `VACUUM INTO` on a
 * connection of its own in a worker thread (`backup-worker.mjs`), so neither
 * the thread that answers ingest nor the writer waits for the copy; SQLite in
 * WAL mode lets the server go on committing while the copy's read transaction
 * is open (the WAL cannot be checkpointed past that snapshot meanwhile, so it
 * grows by what is committed during the copy and shrinks after).
 *
 * The copy is written to a temporary name next to the target, synced, and
 * only then given its name (a link, which fails if the name was taken in the
 * meantime, or a rename when replacing), so a crash or a failed copy never
 * leaves a partial file under the backup's name. Used by the server's
 * `BackupTarget` (BACKUP_DIR) and by the `backup` CLI.
 */
import { link, mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { BackupExistsError, type BackupTarget } from "../../admin/backup-service.ts";
import { StoreUnavailableError } from "../../errors.ts";

type WorkerReply = { ok: true } | { ok: false; message: string; code?: string };

const WORKER_URL = new URL("./backup-worker.mjs", import.meta.url);

/**
 * Copies the database at `source` into the new file `destination` with `VACUUM INTO`, in a
 * worker thread. The copy is one read transaction: every commit finished before the call is in
 * it. `destination` must not exist (SQLite refuses to overwrite a non-empty file).
 */
export async function snapshotDatabase(source: string, destination: string): Promise<void> {
  const request = { source: resolve(source), destination: resolve(destination) };
  let result: WorkerReply;
  if (typeof Worker === "function") {
    // Deno: a Web Worker (node:worker_threads would work too, but this is the runtime's own).
    const worker = new Worker(WORKER_URL.href, { type: "module" });
    try {
      result = await new Promise<WorkerReply>((done, fail) => {
        worker.onmessage = (event: MessageEvent<WorkerReply>) => done(event.data);
        worker.onerror = (event: ErrorEvent) => {
          event.preventDefault();
          fail(new Error(`backup worker failed: ${event.message}`));
        };
        worker.postMessage(request);
      });
    } finally {
      worker.terminate();
    }
  } else {
    const { Worker: NodeWorker } = await import("node:worker_threads");
    const worker = new NodeWorker(WORKER_URL);
    try {
      result = await new Promise<WorkerReply>((done, fail) => {
        worker.once("message", done);
        worker.once("error", fail);
        worker.once("exit", (code) => fail(new Error(`backup worker exited with ${code}`)));
        worker.postMessage(request);
      });
    } finally {
      await worker.terminate();
    }
  }
  if (!result.ok) {
    throw new StoreUnavailableError("backup", {
      cause: Object.assign(new Error(result.message), { code: result.code }),
    });
  }
}

/**
 * Writes a consistent copy of the database at `source` to `target` (any path): refused with
 * `BackupExistsError` when `target` exists unless `force`. Returns the copy's size in bytes.
 */
export async function writeBackupFile(
  source: string,
  target: string,
  options: { force: boolean },
): Promise<{ bytes: number }> {
  const name = target.split(/[\\/]/).pop()!;
  if (!options.force && await exists(target)) throw new BackupExistsError(name);
  const dir = dirname(target);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${name}.partial-${crypto.randomUUID()}`);
  try {
    await snapshotDatabase(source, temp);
    // VACUUM INTO does not sync its output; the backup must be on disk before it has its name.
    await syncFile(temp);
    if (options.force) {
      await rename(temp, target);
    } else {
      try {
        await link(temp, target);
      } catch (error) {
        if ((error as { code?: string }).code === "EEXIST") throw new BackupExistsError(name);
        throw error;
      }
    }
    await syncDir(dir);
    return { bytes: (await stat(target)).size };
  } finally {
    await rm(temp, { force: true });
  }
}

/** The server's backups: files named by the API inside `dir` (BACKUP_DIR). */
export function sqliteBackupTarget(databasePath: string, dir: string): BackupTarget {
  return {
    write: (name, options) => writeBackupFile(databasePath, join(dir, name), options),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return false;
    throw error;
  }
}

/** Flushes a file's data to disk (`mode` r for a directory: makes a rename or link in it durable). */
export async function syncFile(path: string, mode: "r" | "r+" = "r+"): Promise<void> {
  const handle = await open(path, mode);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a rename or link in `dir` durable. */
export const syncDir = (dir: string): Promise<void> => syncFile(dir, "r");
