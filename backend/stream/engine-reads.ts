/**
 * Reads of the stream engine's state (`StreamEngine` delegates to these): the
 * open windows' live values, and the folded deltas not yet handed to the
 * store, which queries add to the stored rollups to see every committed event.
 */
import type { Agg } from "./aggregate.ts";
import type { WindowIndex } from "./window-index.ts";
import { cellMessage, type Window, type WindowMessage, windowMessage } from "./windows.ts";

/** Which open windows: `deviceId` null means the all-device ones only. */
export interface OpenWindowsFilter {
  eventType?: string;
  deviceId?: string | null;
  resolution?: number;
  limit?: number;
}

/** Which unflushed deltas: `deviceIds` null means the all-device windows; starts in [from, to). */
export interface UnflushedRollupsQuery {
  eventType: string;
  resolution: number;
  deviceIds: readonly string[] | null;
  from: number;
  to: number;
}

/** A stored window's folded delta not yet handed to the store. */
export interface UnflushedRollup {
  deviceId: string | null;
  start: number;
  agg: Agg;
}

/** Which unflushed series deltas: event types (`devices` false) or devices (of `eventType`, if given). */
export interface UnflushedSeriesQuery {
  eventType?: string;
  devices: boolean;
}

/** A series' folded totals not yet handed to the store. */
export interface UnflushedSeries {
  eventType: string;
  deviceId: string | null;
  agg: Agg;
}

/** Current values of the open windows of `eventType` at `resolution` (live snapshot). */
export function openWindows(index: WindowIndex, filter: OpenWindowsFilter): WindowMessage[] {
  index.foldAll();
  const out: WindowMessage[] = [];
  const limit = filter.limit ?? Infinity;
  const consider = (w: Window) => {
    if (w.closed || w.late || out.length >= limit) return;
    if (filter.eventType !== undefined && w.eventType !== filter.eventType) return;
    if (filter.deviceId !== undefined && w.deviceId !== filter.deviceId) return;
    if (filter.resolution !== undefined && w.resolution !== filter.resolution) return;
    out.push(windowMessage("window", w, w.value(), false));
  };
  for (const w of index.overall.values()) consider(w);
  if (filter.deviceId !== null) {
    for (const p of index.partitions) {
      for (const w of p.windows.values()) consider(w);
      if (filter.resolution === undefined || filter.resolution === index.finest) {
        for (const cell of index.cells(p)) {
          if (cell.late || out.length >= limit) continue;
          if (filter.eventType !== undefined && cell.eventType !== filter.eventType) continue;
          if (filter.deviceId !== undefined && cell.deviceId !== filter.deviceId) continue;
          out.push(cellMessage(cell, index.finest, false));
        }
      }
    }
  }
  return out;
}

/**
 * Folded deltas of stored windows not yet handed to the store, for queries that must see every
 * committed event: `deviceIds` null means the all-device windows. Call only while no flush is
 * in flight (the stream service's consistent read), so store + these deltas is exact.
 */
export function unflushedRollups(index: WindowIndex, query: UnflushedRollupsQuery): UnflushedRollup[] {
  index.foldAll();
  const out: UnflushedRollup[] = [];
  const consider = (w: Window) => {
    if (!w.delta || w.eventType !== query.eventType || w.resolution !== query.resolution) return;
    if (w.start < query.from || w.start >= query.to) return;
    out.push({ deviceId: w.deviceId, start: w.start, agg: w.delta });
  };
  if (query.deviceIds === null) {
    for (const w of index.overall.values()) consider(w);
  } else {
    const wanted = new Set(query.deviceIds);
    for (const p of index.partitions) {
      for (const w of p.windows.values()) if (wanted.has(w.deviceId!)) consider(w);
    }
  }
  return out;
}

/** Unflushed series deltas (see `unflushedRollups`): types (`devices` false) or devices of a type. */
export function unflushedSeries(index: WindowIndex, query: UnflushedSeriesQuery): UnflushedSeries[] {
  index.foldAll();
  const out: UnflushedSeries[] = [];
  const holders = query.devices ? index.partitions.map((p) => p.series) : [index.overallSeries];
  for (const holder of holders) {
    for (const entry of holder.values()) {
      if (!entry.delta) continue;
      if (query.eventType !== undefined && entry.eventType !== query.eventType) continue;
      out.push({ eventType: entry.eventType, deviceId: entry.deviceId, agg: entry.delta });
    }
  }
  return out;
}
