/**
 * `POST /v1/admin/backup` (admin scope): writes an online, consistent copy of
 * the database into the backup directory (BACKUP_DIR) and answers when it is
 * complete. Thin: parse, call `BackupService`, render. docs/STORAGE.md has the
 * guarantees and the restore procedure.
 */
import { type Context, Hono } from "hono";
import { z } from "zod";
import type { BackupService } from "../admin/backup-service.ts";
import { ValidationError } from "../errors.ts";
import type { AppEnv } from "./app-env.ts";
import { readJson, zodErrors } from "./admin-routes.ts";
import { type AuthDeps, requireScope } from "./require-scope.ts";

export interface BackupRoutesDeps {
  auth: AuthDeps;
  backups: BackupService;
  /** The client's address, for the audit entry. */
  clientAddress: (c: Context) => string | null;
}

const backupBody = z.strictObject({
  name: z.string({ error: "name must be a string" }).optional(),
  force: z.boolean({ error: "force must be true or false" }).optional(),
}, { error: (i) => (i.code === "unrecognized_keys" ? undefined : "body must be a JSON object") });

/** Mounted under `/v1/admin`. */
export function backupRoutes(deps: BackupRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post("/backup", requireScope("admin", deps.auth), async (c) => {
    // A request without a body takes the defaults: a time-stamped name, no overwrite.
    const body = c.req.header("content-type") === undefined && (await c.req.raw.text()) === ""
      ? {}
      : await readJson(c.req.raw);
    const parsed = backupBody.safeParse(body);
    if (!parsed.success) throw new ValidationError("Invalid backup request", zodErrors(parsed.error.issues));
    const backup = await deps.backups.create({
      name: parsed.data.name,
      force: parsed.data.force,
      actor: { id: c.get("principal").keyId, address: deps.clientAddress(c) },
    });
    return c.json({ status: "success", data: backup }, 201);
  });
  return app;
}
