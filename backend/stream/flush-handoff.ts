/**
 * The engine's side of a rollup flush: taking every folded delta for the
 * store, then settling what became of them — applied (`settleFlushed`), parked
 * in the dead letters (`discardFlush`), or failed (`returnFailedFlush`: the
 * deltas go back and ride along with the next flush). A window's deltas move
 * `delta` → `inFlight` → `base` (or are dropped once it closed), so a delta is
 * never handed to the store twice nor lost.
 */
import { Agg, type AggState } from "./aggregate.ts";
import type { WindowIndex } from "./window-index.ts";
import {
  type LiveMessage,
  type RollupDelta,
  type SeriesEntry,
  type TakenFlush,
  type Window,
  windowMessage,
} from "./windows.ts";

/** Takes every folded delta (call `index.foldAll()` first) with `checkpoint`, the highest seq in them. */
export function takeFlush(index: WindowIndex, checkpoint: number): TakenFlush {
  const rollups: RollupDelta[] = [];
  const windows: Window[] = [];
  const take = (w: Window) => {
    if (!w.delta) return;
    rollups.push({
      resolution: w.resolution,
      eventType: w.eventType,
      deviceId: w.deviceId,
      start: w.start,
      state: w.delta.toState(),
    });
    w.inFlight = w.delta;
    w.delta = null;
    windows.push(w);
  };
  for (const p of index.partitions) for (const w of p.windows.values()) take(w);
  for (const w of index.overall.values()) take(w);
  const series: TakenFlush["series"] = [];
  const takeSeries = (holder: Map<string, SeriesEntry>) => {
    for (const [key, entry] of holder) {
      if (!entry.delta) continue;
      series.push({ holder, key, entry, taken: entry.delta });
      entry.delta = null;
    }
  };
  for (const p of index.partitions) takeSeries(p.series);
  takeSeries(index.overallSeries);
  return {
    batch: {
      rollups,
      series: series.map(({ entry, taken }) => ({
        eventType: entry.eventType,
        deviceId: entry.deviceId,
        state: taken.toState(),
      })),
      checkpoint,
    },
    windows,
    series,
  };
}

/**
 * The store applied `taken`; `merged[i]` is the stored state of `taken.batch.rollups[i]` after
 * the merge. Closed (or late) windows among them announce their corrected value.
 */
export function settleFlushed(
  index: WindowIndex,
  taken: TakenFlush,
  merged: readonly AggState[],
  publish: ((message: LiveMessage) => void) | undefined,
): void {
  taken.windows.forEach((w, i) => {
    w.inFlight = null;
    if (w.corrected) {
      w.corrected = false;
      const state = merged[i];
      publish?.(windowMessage("correction", w, () => Agg.fromState(state), true));
    }
    // An open window keeps the store's merged state (encoded), which its live value starts from.
    if (!w.closed && !w.late) w.saved = merged[i];
  });
  release(index, taken);
}

/**
 * `taken` went to the dead letters instead of the store (storage-store.ts `parkRollupRange`): its
 * deltas are dropped without being counted as stored; a replay of the dead letter writes them later.
 */
export function discardFlush(index: WindowIndex, taken: TakenFlush): void {
  for (const w of taken.windows) {
    w.inFlight = null;
    w.corrected = false;
  }
  release(index, taken);
}

/** The store did not apply `taken`: its deltas go back, to be retried with the next flush. */
export function returnFailedFlush(taken: TakenFlush): void {
  for (const w of taken.windows) {
    const sent = w.inFlight!;
    w.inFlight = null;
    if (w.delta) sent.merge(w.delta);
    w.delta = sent;
  }
  for (const { entry, taken: sent } of taken.series) {
    if (entry.delta) sent.merge(entry.delta, false);
    entry.delta = sent;
  }
}

/** After a settled flush: closed windows and series entries with nothing left to write go. */
function release(index: WindowIndex, taken: TakenFlush): void {
  for (const p of index.partitions) dropFlushedClosed(p.windows);
  dropFlushedClosed(index.overall);
  // Series entries exist only to carry deltas; one with nothing new since the flush goes, so the
  // maps do not grow with every device ever seen.
  for (const { holder, key, entry } of taken.series) {
    if (entry.delta === null) {
      entry.removed = true;
      holder.delete(key);
    }
  }
}

function dropFlushedClosed(map: Map<string, Window>): void {
  for (const [key, w] of map) {
    if ((w.closed || w.late) && !w.delta && !w.inFlight) {
      w.removed = true;
      map.delete(key);
    }
  }
}
