/**
 * Online backups of the database (`POST /v1/admin/backup`): one consistent
 * copy at a time, written by a `BackupTarget` under a fixed directory, audited
 * and logged. The copy itself (SQLite's `VACUUM INTO` in one read transaction,
 * on its own connection off the request thread) is the adapter's job
 * (`backend/adapters/sqlite/sqlite-backup.ts`); this module decides names,
 * refusals and the one-at-a-time bound, and knows no file system.
 */
import type { Actor } from "./key-admin.ts";
import type { Clock } from "../clock.ts";
import { AppError, ConflictError, ValidationError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { Store } from "../store/store.ts";

/** Where backups are written: one directory (BACKUP_DIR) holding files by name. */
export interface BackupTarget {
  /**
   * Writes one consistent snapshot of the database as `name` in the backup directory: every
   * transaction committed before the call is in it, and the file appears under `name` only once
   * it is complete and synced. Rejects with `BackupExistsError` when `name` exists and `force`
   * is false (nothing is written then).
   */
  write(name: string, options: { force: boolean }): Promise<{ bytes: number }>;
}

/** 409: a backup of that name exists and the request did not ask to replace it. */
export class BackupExistsError extends ConflictError {
  constructor(name: string) {
    super(`A backup named ${name} exists; it is replaced only when forced ("force": true, --force)`, "name");
  }
}

/** 429 with Retry-After: another backup is being written (one at a time). */
export class BackupInProgressError extends AppError {
  readonly retryAfterSeconds = 5;
  constructor(readonly running: string) {
    super(429, "A backup is already running; retry when it has finished");
  }
}

/**
 * 500: the copy could not be written (disk full, BACKUP_DIR not writable, the database unreadable).
 * The cause is logged, never sent; no file is left under the backup's name.
 */
export class BackupFailedError extends AppError {
  constructor(options?: ErrorOptions) {
    super(500, "The backup could not be written; the cause is in the server log", [], options);
  }
}

/** 404: this database is not a local file (remote libSQL, `:memory:`), so there is nothing to copy here. */
export class BackupUnavailableError extends AppError {
  constructor() {
    super(
      404,
      "Backups need a local SQLite database file (back up a remote libSQL database with its provider)",
    );
  }
}

/** A finished backup, as the API shows it. */
export interface BackupView {
  /** File name inside the backup directory. */
  name: string;
  bytes: number;
  /** ISO-8601: when the snapshot was requested (every commit finished before this is in it). */
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Whether an existing file of that name was replaced. */
  replaced: boolean;
}

/** What the service did since start, for `/metrics` (observability/backup-collectors.ts). */
export interface BackupCounts {
  written: number;
  failed: number;
  /** Refused because another was running, or because the name existed (no force). */
  refused: number;
  /** The last backup written: epoch ms when it finished, its duration and size; null before the first. */
  last: { at: number; durationMs: number; bytes: number } | null;
}

/** A file name inside the backup directory: no separators, no leading dot, at most 128 characters. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The default name of a backup started at `ms`: `pulsestream-20261207T201530Z.db`. */
export function defaultBackupName(ms: number): string {
  return `pulsestream-${new Date(ms).toISOString().replace(/[-:]|\.\d+/g, "")}.db`;
}

/**
 * Checks a requested backup name. Anything that could leave the backup directory (a path
 * separator, `..`, an absolute path, a leading dot) is refused with a 400, before any file is touched.
 */
export function checkBackupName(name: string): string {
  if (!NAME.test(name) || name.includes("..")) {
    throw new ValidationError("Invalid backup name", [{
      field: "name",
      message: "must be a file name inside the backup directory: 1-128 of A-Z a-z 0-9 . _ - " +
        "(no path separators, no '..', not starting with '.')",
    }]);
  }
  return name;
}

export interface BackupServiceDeps {
  /** Absent when the database is not a local file. */
  target: BackupTarget | null;
  store: Pick<Store, "appendAudit">;
  clock: Clock;
  logger: Logger;
}

/** Runs backups one at a time and records each in the audit log (`backup.created`). */
export class BackupService {
  #running: string | null = null;
  readonly #counts: BackupCounts = { written: 0, failed: 0, refused: 0, last: null };

  constructor(private readonly deps: BackupServiceDeps) {}

  /** The name of the backup being written, or null. */
  get running(): string | null {
    return this.#running;
  }

  /** Counts since start (a copy). */
  get counts(): BackupCounts {
    return { ...this.#counts };
  }

  /** Writes a backup; see `BackupTarget.write` for what the file holds. */
  async create(params: { name?: string; force?: boolean; actor: Actor }): Promise<BackupView> {
    const { target, clock, logger } = this.deps;
    if (!target) throw new BackupUnavailableError();
    const started = clock.now();
    const name = checkBackupName(params.name ?? defaultBackupName(started));
    const force = params.force === true;
    if (this.#running !== null) {
      logger.warn("backup refused: another is running", { name, running: this.#running });
      this.#counts.refused++;
      throw new BackupInProgressError(this.#running);
    }
    this.#running = name;
    let bytes: number;
    try {
      ({ bytes } = await target.write(name, { force }));
    } catch (error) {
      if (error instanceof BackupExistsError) {
        this.#counts.refused++;
        throw error;
      }
      this.#counts.failed++;
      const cause = (error as Error).cause;
      logger.error("backup failed", {
        name,
        error: String(error),
        ...(cause ? { cause: String(cause) } : {}),
      });
      throw new BackupFailedError({ cause: error });
    } finally {
      this.#running = null;
    }
    const finished = clock.now();
    const view: BackupView = {
      name,
      bytes,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      durationMs: finished - started,
      replaced: force,
    };
    await this.deps.store.appendAudit({
      at: finished,
      actor: params.actor.id,
      action: "backup.created",
      target: name,
      address: params.actor.address,
      details: { bytes, durationMs: view.durationMs, force },
    });
    this.#counts.written++;
    this.#counts.last = { at: finished, durationMs: view.durationMs, bytes };
    logger.info("backup written", { name, bytes, durationMs: view.durationMs });
    return view;
  }
}
