/**
 * Devices: every device seen, merged over all event types from /v1/metrics/types
 * and /v1/metrics/latest (per type: last value, last seen, count; fetched a few
 * types at a time), shown a page at a time; a row opens the device's charts and
 * recent events. Where the server lists fewer devices of a type than it has
 * (its per-request limit), the page says so.
 */
import { useEffect, useState } from "react";
import { api, errorText, query } from "../api.ts";
import { mapBounded } from "../bounded.ts";
import { ago, num, time } from "../format.ts";
import { href } from "../route.ts";
import { Card, Empty, ErrorBox, FirstEventHint, Notice } from "../components/ui.tsx";

interface Latest {
  deviceId: string;
  lastValue: number | null;
  lastSeen: string | null;
  count: number;
}

export interface DeviceRow {
  deviceId: string;
  lastSeen: string | null;
  count: number;
  last: Record<string, number | null>;
}

/** An event type whose latest values list fewer devices than it has. */
export interface CutType {
  eventType: string;
  listed: number;
  devices: number;
}

/** Devices asked for per event type (the server's default METRICS_MAX_SERIES). */
const PER_TYPE = 1000;
/** Event types fetched at once. */
const PARALLEL = 4;
/** Table rows per page. */
const PAGE = 100;
/** Pause between two reloads, ms (counted from the end of one, so loads never pile up). */
const RELOAD_MS = 5000;

export async function loadDevices(): Promise<{ rows: DeviceRow[]; types: number; cut: CutType[] }> {
  const types = await api<{ data: { eventType: string; devices: number }[] }>("/v1/metrics/types");
  const lists = await mapBounded(
    types.data,
    PARALLEL,
    (t) => api<{ data: Latest[] }>(`/v1/metrics/latest${query({ eventType: t.eventType, limit: PER_TYPE })}`),
  );
  const rows = new Map<string, DeviceRow>();
  const cut: CutType[] = [];
  types.data.forEach((t, i) => {
    const data = lists[i].data;
    if (data.length < t.devices) {
      cut.push({ eventType: t.eventType, listed: data.length, devices: t.devices });
    }
    for (const d of data) {
      const row = rows.get(d.deviceId) ?? { deviceId: d.deviceId, lastSeen: null, count: 0, last: {} };
      row.count += d.count;
      if (d.lastSeen && (!row.lastSeen || d.lastSeen > row.lastSeen)) row.lastSeen = d.lastSeen;
      row.last[t.eventType] = d.lastValue;
      rows.set(d.deviceId, row);
    }
  });
  const sorted = [...rows.values()].sort((a, b) => (b.lastSeen ?? "").localeCompare(a.lastSeen ?? ""));
  return { rows: sorted, types: types.data.length, cut };
}

export function Devices() {
  const [loaded, setLoaded] = useState<Awaited<ReturnType<typeof loadDevices>> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState("");
  const [page, setPage] = useState(0);

  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = () =>
      loadDevices().then(
        (r) => !stop && (setLoaded(r), setError(null)),
        (e) => !stop && setError(errorText(e)),
      ).finally(() => {
        if (!stop) timer = setTimeout(load, RELOAD_MS);
      });
    load();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, []);

  const rows = loaded?.rows ?? null;
  const shown = (rows ?? []).filter((r) => r.deviceId.toLowerCase().includes(filter.toLowerCase()));
  const pages = Math.max(1, Math.ceil(shown.length / PAGE));
  const current = Math.min(page, pages - 1);
  const first = current * PAGE;
  return (
    <Card
      title={`Devices${rows ? ` (${rows.length})` : ""}`}
      actions={
        <input
          className="input"
          placeholder="Filter devices"
          value={filter}
          onChange={(e) => {
            setFilter(e.target.value);
            setPage(0);
          }}
        />
      }
    >
      <ErrorBox error={error} />
      {loaded && loaded.cut.length > 0 && (
        <Notice>
          <span data-testid="devices-cut">
            The server lists at most {num(PER_TYPE)} devices per event type, so some are missing here:{" "}
            {loaded.cut.map((c) => `${c.eventType} shows ${num(c.listed)} of ${num(c.devices)}`).join("; ")}.
          </span>
        </Notice>
      )}
      {rows && rows.length === 0 && (
        <Empty title="No devices have sent events yet">
          <FirstEventHint />
        </Empty>
      )}
      {rows && rows.length > 0 && (
        <div className="overflow-x-auto">
          <table className="w-full text-sm" data-testid="devices-table">
            <thead>
              <tr className="label">
                <th className="cell">Device</th>
                <th className="cell">Last seen</th>
                <th className="cell text-right">Events</th>
                <th className="cell">Last values</th>
              </tr>
            </thead>
            <tbody>
              {shown.slice(first, first + PAGE).map((r) => (
                <tr key={r.deviceId} className="cursor-pointer hover:bg-slate-50 dark:hover:bg-slate-800/50">
                  <td className="cell">
                    <a
                      className="font-medium text-indigo-600 dark:text-indigo-400"
                      href={href("devices", r.deviceId)}
                    >
                      {r.deviceId}
                    </a>
                  </td>
                  <td className="cell whitespace-nowrap" title={time(r.lastSeen)}>{ago(r.lastSeen)}</td>
                  <td className="cell text-right tabular-nums">{num(r.count)}</td>
                  <td className="cell text-xs">
                    {Object.entries(r.last).map(([t, v]) => (
                      <span key={t} className="mr-3 whitespace-nowrap">{t}: {num(v)}</span>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="mt-2 flex flex-wrap items-center gap-2 text-xs text-slate-500">
            <span data-testid="devices-range">
              {shown.length === 0
                ? `No device matches; ${rows.length} in all`
                : `Showing ${first + 1}–${Math.min(first + PAGE, shown.length)} of ${shown.length}` +
                  `${shown.length < rows.length ? ` matching (${rows.length} in all)` : ""}` +
                  ` · ${loaded!.types} event types`}
            </span>
            {pages > 1 && (
              <>
                <button
                  type="button"
                  className="btn"
                  disabled={current === 0}
                  onClick={() => setPage(current - 1)}
                >
                  Previous
                </button>
                <button
                  type="button"
                  className="btn"
                  disabled={current >= pages - 1}
                  onClick={() => setPage(current + 1)}
                >
                  Next
                </button>
              </>
            )}
          </div>
        </div>
      )}
    </Card>
  );
}
