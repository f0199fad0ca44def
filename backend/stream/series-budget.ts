/**
 * The series budget: which per-device series (event type × device id) the
 * stream engine aggregates per device, at most `maxSeries` of them.
 *
 * A series is admitted at its first event while fewer than `maxSeries` are
 * tracked, and stays tracked; so a tracked series' per-device rollups hold
 * every one of its events. An event of any other series is over budget: it is
 * stored raw and counted in the all-device windows and totals (which stay
 * exact), but the engine keeps no state for its device; metric queries of such
 * a series read its raw events (metrics/metrics-query.ts).
 *
 * Once an event type had an event over budget it admits no new series, even
 * when the budget is raised at a restart: a series first seen then may have
 * earlier events over budget, which its rollups would miss. The restart
 * rebuilds the budget from the series catalogue (`restore`): the tracked
 * series are the per-device series rows, and a type had events over budget
 * exactly when its all-device total counts more events than its devices'
 * totals together. Replaying the events after the checkpoint in seq order then
 * takes the same decisions as before the restart.
 *
 * Memory: one entry per tracked series (its device id in a set per type), a
 * set of closed types and one 4 KiB HyperLogLog estimating the distinct series
 * over budget since start.
 */
import type { Store } from "../store/store.ts";
import { HyperLogLog } from "./hll.ts";

/** What the budget needs of one per-device series row and one all-device row. */
export interface SeriesCount {
  eventType: string;
  deviceId: string | null;
  /** Events counted in the series. */
  count: number;
}

/** The figures of /metrics and /health. */
export interface SeriesBudgetFigures {
  /** Per-device series tracked now. */
  trackedSeries: number;
  /** The budget (`STREAM_MAX_SERIES`); Infinity when unbounded. */
  maxSeries: number;
  /** Events over budget since start (replayed ones included). */
  overBudgetEvents: number;
  /** Distinct series over budget since start, estimated (HyperLogLog, ±1.6 %). */
  overBudgetSeries: number;
  /** Event types that admit no new series. */
  closedTypes: number;
}

/** What the engine asks of a series budget. */
export interface SeriesAdmission {
  /** Whether an event of the series is aggregated per device (may admit the series). */
  admit(eventType: string, deviceId: string): boolean;
  /** Whether the series is tracked, without admitting it. */
  isTracked(eventType: string, deviceId: string): boolean;
  /** Rebuilds the tracked series from the catalogue (see `SeriesBudget.restore`). */
  restore(rows: Iterable<SeriesCount>): void;
  figures(): SeriesBudgetFigures;
}

const SEP = "\u0000";

export class SeriesBudget implements SeriesAdmission {
  /** Event type → tracked device ids. */
  readonly #tracked = new Map<string, Set<string>>();
  readonly #closedTypes = new Set<string>();
  readonly #overBudget = new HyperLogLog();
  #size = 0;
  #overBudgetEvents = 0;

  /** `maxSeries`: how many series may be tracked (Infinity: all). */
  constructor(readonly maxSeries: number) {}

  /** Whether the series is tracked, without admitting it. */
  isTracked(eventType: string, deviceId: string): boolean {
    return this.#tracked.get(eventType)?.has(deviceId) ?? false;
  }

  /**
   * Whether an event of the series is aggregated per device: true for a tracked series, or a
   * new one while there is room (it is admitted); false counts the event as over budget.
   */
  admit(eventType: string, deviceId: string): boolean {
    let devices = this.#tracked.get(eventType);
    if (devices?.has(deviceId)) return true;
    if (this.#size < this.maxSeries && !this.#closedTypes.has(eventType)) {
      if (!devices) this.#tracked.set(eventType, devices = new Set());
      devices.add(deviceId);
      this.#size++;
      return true;
    }
    this.#closedTypes.add(eventType);
    this.#overBudgetEvents++;
    this.#overBudget.add(eventType + SEP + deviceId);
    return false;
  }

  /**
   * Rebuilds the budget at start from the series catalogue: every per-device row is tracked
   * (also beyond `maxSeries`, if it was lowered: untracking one would leave its rollups
   * incomplete), and a type whose all-device row counts more than its device rows is closed.
   */
  restore(rows: Iterable<SeriesCount>): void {
    const overall = new Map<string, number>();
    const perDevice = new Map<string, number>();
    for (const row of rows) {
      if (row.deviceId === null) {
        overall.set(row.eventType, row.count);
        continue;
      }
      perDevice.set(row.eventType, (perDevice.get(row.eventType) ?? 0) + row.count);
      let devices = this.#tracked.get(row.eventType);
      if (!devices) this.#tracked.set(row.eventType, devices = new Set());
      if (!devices.has(row.deviceId)) {
        devices.add(row.deviceId);
        this.#size++;
      }
    }
    for (const [eventType, count] of overall) {
      if (count > (perDevice.get(eventType) ?? 0)) this.#closedTypes.add(eventType);
    }
  }

  figures(): SeriesBudgetFigures {
    return {
      trackedSeries: this.#size,
      maxSeries: this.maxSeries,
      overBudgetEvents: this.#overBudgetEvents,
      overBudgetSeries: this.#overBudgetEvents === 0 ? 0 : Math.round(this.#overBudget.count()),
      closedTypes: this.#closedTypes.size,
    };
  }
}

/** Every row of the series catalogue (all-device and per-device) with its event count. */
export async function seriesCounts(store: Pick<Store, "listSeries">): Promise<SeriesCount[]> {
  const all = Number.MAX_SAFE_INTEGER;
  const rows = [
    ...await store.listSeries({ devices: false, limit: all }),
    ...await store.listSeries({ devices: true, limit: all }),
  ];
  return rows.map((r) => ({ eventType: r.eventType, deviceId: r.deviceId, count: r.state.count }));
}
