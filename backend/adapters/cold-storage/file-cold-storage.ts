/**
 * `ColdStorage` on a local directory (`EXPORT_DIR`): each file is written to a
 * temporary name, synced, then renamed, so a crash leaves no partial export
 * under the final name. Chunks are awaited one by one, so a slow disk holds
 * back the export's store reads (backpressure) instead of buffering them.
 */
import { mkdir, open, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { ColdStorage } from "../../storage/retention-service.ts";

export function fileColdStorage(dir: string): ColdStorage {
  return {
    async write(name, body) {
      if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`bad export file name ${name}`);
      await mkdir(dir, { recursive: true });
      const path = join(dir, name);
      const temp = `${path}.partial`;
      const file = await open(temp, "w");
      let bytes = 0;
      try {
        const reader = body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          await file.write(value);
          bytes += value.length;
        }
        await file.sync();
      } catch (error) {
        await file.close().catch(() => {});
        await rm(temp, { force: true });
        throw error;
      }
      await file.close();
      await rename(temp, path);
      // The rename is durable only once the directory is synced; the day is dropped after this.
      const folder = await open(dir, "r");
      try {
        await folder.sync();
      } finally {
        await folder.close();
      }
      return { path, bytes };
    },
  };
}
