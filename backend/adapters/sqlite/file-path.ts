import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** The file path of a `file:` URL (`file:./data/x.db`, `file:///abs/x.db`), or `:memory:`. */
export function sqliteFilePath(url: string): string {
  if (url === ":memory:" || url === "file::memory:") return ":memory:";
  if (url.startsWith("file://")) return fileURLToPath(url);
  if (url.startsWith("file:")) return url.slice("file:".length).split("?")[0];
  return url;
}

/** Creates the directory that will hold the database file. */
export function ensureParentDir(path: string): void {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
}
