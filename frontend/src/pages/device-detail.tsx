/** One device: a chart per event type it sends (last hour, avg/min/max) and its recent events. */
import { useEffect, useState } from "react";
import { api, errorText, query } from "../api.ts";
import { num, time } from "../format.ts";
import { href } from "../route.ts";
import { type Series, TimeChart } from "../components/time-chart.tsx";
import { Card, Empty, ErrorBox } from "../components/ui.tsx";
import { EventDetail, type EventView } from "./event-detail.tsx";

interface Metrics {
  timestamps: number[];
  series: { values: Record<string, (number | null)[]> }[];
}

export function DeviceDetail(props: { deviceId: string }) {
  const [charts, setCharts] = useState<{ type: string; series: Series[] }[] | null>(null);
  const [events, setEvents] = useState<EventView[] | null>(null);
  const [selected, setSelected] = useState<EventView | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const load = async () => {
      const list = await api<{ events: EventView[] }>(
        `/v1/events${query({ deviceId: props.deviceId, limit: 50 })}`,
      );
      setEvents(list.events);
      const types = await api<{ data: { eventType: string }[] }>("/v1/metrics/types");
      const own: { type: string; series: Series[] }[] = [];
      for (const { eventType } of types.data.slice(0, 20)) {
        const m = await api<Metrics>(
          `/v1/metrics${
            query({ eventType, deviceId: [props.deviceId], from: "now-1h", to: "now", agg: "avg,min,max" })
          }`,
        );
        const values = m.series[0]?.values;
        if (!values || !(values.avg ?? []).some((v) => v !== null)) continue;
        own.push({
          type: eventType,
          series: ["avg", "min", "max"].map((a) => ({
            label: a,
            points: m.timestamps.map((x, i) => ({ x, y: values[a]?.[i] ?? null })),
          })),
        });
      }
      setCharts(own);
    };
    load().catch((e) => setError(errorText(e)));
  }, [props.deviceId]);

  return (
    <div className="space-y-4">
      <div className="flex items-center gap-2 text-sm">
        <a className="underline" href={href("devices")}>Devices</a>
        <span>/</span>
        <span className="font-semibold">{props.deviceId}</span>
      </div>
      <ErrorBox error={error} />
      <div className="grid gap-4 lg:grid-cols-2">
        {charts?.map((c) => (
          <Card key={c.type} title={`${c.type} · last hour`}>
            <TimeChart series={c.series} height={220} />
          </Card>
        ))}
        {charts && charts.length === 0 && <Empty title="No values in the last hour for this device" />}
      </div>
      {selected && <EventDetail event={selected} onClose={() => setSelected(null)} />}
      <Card title="Recent events">
        {events && events.length === 0 && <Empty title="No events from this device" />}
        <div className="overflow-x-auto">
          <table className="w-full text-sm">
            <tbody>
              {(events ?? []).map((e) => (
                <tr
                  key={e.id}
                  className="cursor-pointer hover:bg-slate-50 dark:hover:bg-slate-800/50"
                  onClick={() => setSelected(e)}
                >
                  <td className="cell whitespace-nowrap">{time(e.timestamp)}</td>
                  <td className="cell">{e.eventType}</td>
                  <td className="cell text-right tabular-nums">{num(e.value)}</td>
                  <td className="cell truncate font-mono text-xs">
                    {e.data ? JSON.stringify(e.data) : ""}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Card>
    </div>
  );
}
