/**
 * Devices: every device seen, merged over event types from /v1/metrics/types
 * and /v1/metrics/latest (per type: last value, last seen, count); a row
 * opens the device's charts and recent events.
 */
import { useEffect, useState } from "react";
import { api, errorText, query } from "../api.ts";
import { ago, num, time } from "../format.ts";
import { href } from "../route.ts";
import { Card, Empty, ErrorBox, FirstEventHint } from "../components/ui.tsx";

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

/** Types with at most this many devices each are listed in full. */
const PER_TYPE = 1000;

export async function loadDevices(): Promise<DeviceRow[]> {
  const types = await api<{ data: { eventType: string }[] }>("/v1/metrics/types");
  const rows = new Map<string, DeviceRow>();
  const lists = await Promise.all(
    types.data.slice(0, 50).map((t) =>
      api<{ data: Latest[] }>(`/v1/metrics/latest${query({ eventType: t.eventType, limit: PER_TYPE })}`)
        .then((r) => ({ type: t.eventType, data: r.data }))
    ),
  );
  for (const { type, data } of lists) {
    for (const d of data) {
      const row = rows.get(d.deviceId) ?? { deviceId: d.deviceId, lastSeen: null, count: 0, last: {} };
      row.count += d.count;
      if (d.lastSeen && (!row.lastSeen || d.lastSeen > row.lastSeen)) row.lastSeen = d.lastSeen;
      row.last[type] = d.lastValue;
      rows.set(d.deviceId, row);
    }
  }
  return [...rows.values()].sort((a, b) => (b.lastSeen ?? "").localeCompare(a.lastSeen ?? ""));
}

export function Devices() {
  const [rows, setRows] = useState<DeviceRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState("");

  useEffect(() => {
    let stop = false;
    const load = () =>
      loadDevices().then(
        (r) => !stop && (setRows(r), setError(null)),
        (e) => !stop && setError(errorText(e)),
      );
    load();
    const timer = setInterval(load, 5000);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, []);

  const shown = (rows ?? []).filter((r) => r.deviceId.toLowerCase().includes(filter.toLowerCase()));
  return (
    <Card
      title={`Devices${rows ? ` (${rows.length})` : ""}`}
      actions={
        <input
          className="input"
          placeholder="Filter devices"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
      }
    >
      <ErrorBox error={error} />
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
              {shown.slice(0, 500).map((r) => (
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
          {shown.length > 500 && (
            <p className="mt-2 text-xs text-slate-500">Showing 500 of {shown.length}; filter to narrow.</p>
          )}
        </div>
      )}
    </Card>
  );
}
