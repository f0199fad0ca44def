/**
 * Worker side of `sqlite-backup.ts`: copies a SQLite database with
 * `VACUUM INTO` on a connection of its own, so the copy (seconds for a large
 * file) holds neither the thread that answers requests nor the writer. The
 * statement reads the source in one read transaction: under WAL the copy is
 * the snapshot of every transaction committed before it began, while the
 * server keeps committing.
 *
 * Plain JavaScript on purpose: it runs as a Web Worker under Deno and as a
 * `node:worker_threads` worker under Node, where Node 20's workers do not get
 * the `tsx` loader of the main thread (a `.ts` worker fails with "Unknown file
 * extension"). Uses `node:sqlite` where the runtime has it (Deno 2, Node >=
 * 22.5), `@libsql/client` otherwise (Node 20).
 *
 * Message in: `{ source, destination }` (file paths). Reply: `{ ok: true }` or
 * `{ ok: false, message, code }`.
 */
import { parentPort } from "node:worker_threads";

const reply = (message) => parentPort ? parentPort.postMessage(message) : self.postMessage(message);

async function copy({ source, destination }) {
  const nodeSqlite = await import("node:sqlite").catch(() => null);
  if (nodeSqlite) {
    const db = new nodeSqlite.DatabaseSync(source, { readOnly: true });
    try {
      db.exec("PRAGMA busy_timeout=5000");
      db.prepare("VACUUM INTO ?").run(destination);
    } finally {
      db.close();
    }
    return;
  }
  const { createClient } = await import("@libsql/client");
  const client = createClient({ url: `file:${source}` });
  try {
    await client.execute("PRAGMA busy_timeout=5000");
    await client.execute({ sql: "VACUUM INTO ?", args: [destination] });
  } finally {
    client.close();
  }
}

async function handle(request) {
  try {
    await copy(request);
    reply({ ok: true });
  } catch (error) {
    reply({ ok: false, message: String(error?.message ?? error), code: error?.code });
  }
}

if (parentPort) parentPort.once("message", handle);
else self.onmessage = (event) => handle(event.data);
