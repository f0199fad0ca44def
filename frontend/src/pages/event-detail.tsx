/** One event with all its fields, `data` and `metadata` pretty-printed. */
import type { EventView as ApiEventView } from "../../../shared/event.ts";
import { time } from "../format.ts";

/** An event as the API renders it; `seq` where the live stream adds it. */
export type EventView = ApiEventView & { seq?: number };

export function EventDetail(props: { event: EventView; onClose(): void }) {
  const e = props.event;
  const fields: [string, string][] = [
    ["id", e.id],
    ["seq", e.seq === undefined ? "–" : String(e.seq)],
    ["deviceId", e.deviceId],
    ["eventType", e.eventType],
    ["value", e.value === null ? "null" : String(e.value)],
    ["timestamp", `${e.timestamp} (${time(e.timestamp)})`],
    ["receivedAt", `${e.receivedAt} (${time(e.receivedAt)})`],
    ["partition", String(e.partition)],
  ];
  return (
    <div className="card space-y-2" data-testid="event-detail">
      <div className="flex items-center justify-between">
        <h3 className="text-sm font-semibold">Event {e.id}</h3>
        <button type="button" className="btn" onClick={props.onClose}>Close</button>
      </div>
      <dl className="grid grid-cols-[8rem_1fr] gap-x-2 gap-y-1 text-sm">
        {fields.map(([k, v]) => (
          <div key={k} className="contents">
            <dt className="text-slate-500">{k}</dt>
            <dd className="font-mono break-all">{v}</dd>
          </div>
        ))}
      </dl>
      <div className="label">metadata</div>
      <pre className="overflow-x-auto rounded bg-slate-100 p-2 text-xs dark:bg-slate-800">{JSON.stringify(e.metadata, null, 2)}</pre>
      <div className="label">data</div>
      <pre
        className="overflow-x-auto rounded bg-slate-100 p-2 text-xs dark:bg-slate-800"
        data-testid="event-data"
      >{JSON.stringify(e.data, null, 2)}</pre>
    </div>
  );
}
