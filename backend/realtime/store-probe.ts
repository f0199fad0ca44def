/**
 * The store's health and size for the live `stats` channel: `refresh()` starts one
 * ping + stats read unless one is still running (a slow store is never asked twice at
 * once), and `snapshot()` returns the latest answer without waiting. The server calls
 * `refresh()` once a second while anyone subscribes to `stats`, so the overview shows
 * these figures live instead of polling /health. `stats()` counts the events table,
 * so a very large store costs one count per second, only while a dashboard is open.
 */
import type { Store } from "../store/store.ts";

export interface StoreSnapshot {
  /** `status` "ok" when the last ping answered, "error" when it failed, "unknown" before the first one. */
  health: { status: "ok" | "error" | "unknown"; database: "up" | "down" | "unknown" };
  store: { engine: string; events: number | null; bytes: number | null };
}

export class StoreProbe {
  #running: Promise<void> | null = null;
  #snapshot: StoreSnapshot;

  constructor(private readonly store: Store) {
    this.#snapshot = {
      health: { status: "unknown", database: "unknown" },
      store: { engine: store.engine, events: null, bytes: null },
    };
  }

  snapshot(): StoreSnapshot {
    return this.#snapshot;
  }

  /** Starts a probe unless one is running; the returned promise settles when it has (never rejects). */
  refresh(): Promise<void> {
    this.#running ??= this.#probe().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #probe(): Promise<void> {
    const engine = this.store.engine;
    try {
      await this.store.ping();
    } catch {
      this.#snapshot = {
        health: { status: "error", database: "down" },
        store: { engine, events: null, bytes: null },
      };
      return;
    }
    const stats = await this.store.stats().catch(() => null);
    this.#snapshot = {
      health: { status: "ok", database: "up" },
      store: { engine, events: stats?.events ?? null, bytes: stats?.bytes ?? null },
    };
  }
}
