/** The explorer's controls: event type, devices (searchable multi-select), aggregates, step, range, live. */
import { useEffect, useState } from "react";
import { api, ApiError, errorText, query } from "../api.ts";
import { ErrorBox } from "../components/ui.tsx";
import { toLocalInput } from "../format.ts";
import { AGGREGATES, type ExplorerState, QUICK_RANGES, resolveTime, STEPS } from "../explorer-state.ts";

/** Devices asked for in the picker (the server may allow fewer: METRICS_MAX_SERIES). */
const DEVICE_LIMIT = 1000;

export function ExplorerControls(props: {
  state: ExplorerState;
  types: string[];
  update(next: Partial<ExplorerState>): void;
  onRefresh(): void;
}) {
  const { state, update } = props;
  const [devices, setDevices] = useState<string[]>([]);
  const [search, setSearch] = useState("");
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [capped, setCapped] = useState(false);

  useEffect(() => {
    if (!state.type) return;
    let stop = false;
    type Latest = { data: { deviceId: string }[] };
    const ask = (limit?: number) =>
      api<Latest>(`/v1/metrics/latest${query({ eventType: state.type, limit })}`).then((r) => ({ r, limit }));
    // 1000 devices, or the server's own default when its METRICS_MAX_SERIES is lower (400 on `limit`).
    ask(DEVICE_LIMIT).catch((e) => {
      if (e instanceof ApiError && e.status === 400 && e.errors.some((f) => f.field === "limit")) {
        return ask();
      }
      throw e;
    }).then(({ r, limit }) => {
      if (stop) return;
      setDevices(r.data.map((d) => d.deviceId).sort());
      setCapped(r.data.length >= (limit ?? 100));
      setError(null);
    }, (e) => !stop && setError(`Device list: ${errorText(e)}`));
    return () => {
      stop = true;
    };
  }, [state.type]);

  const now = Date.now();
  const shown = devices.filter((d) => d.toLowerCase().includes(search.toLowerCase())).slice(0, 200);
  const toggleDevice = (d: string) =>
    update({
      devices: state.devices.includes(d) ? state.devices.filter((x) => x !== d) : [...state.devices, d],
    });
  const toggleAgg = (a: string) => {
    const next = state.aggs.includes(a) ? state.aggs.filter((x) => x !== a) : [...state.aggs, a];
    if (next.length) update({ aggs: next });
  };

  return (
    <div className="card grid gap-3 md:grid-cols-2 xl:grid-cols-4">
      {error && (
        <div className="md:col-span-2 xl:col-span-4">
          <ErrorBox error={error} />
        </div>
      )}
      <label className="block">
        <span className="label">Event type</span>
        <select
          className="input mt-1 w-full"
          value={state.type}
          data-testid="event-type"
          onChange={(e) => update({ type: e.target.value, devices: [] })}
        >
          {props.types.map((t) => <option key={t} value={t}>{t}</option>)}
        </select>
      </label>
      <div className="relative">
        <span className="label">Devices</span>
        <button
          type="button"
          className="input mt-1 w-full truncate text-left"
          onClick={() => setOpen(!open)}
          data-testid="devices"
        >
          {state.devices.length ? state.devices.join(", ") : "All devices (merged)"}
        </button>
        {open && (
          <div className="absolute z-20 mt-1 w-full rounded-md border border-slate-300 bg-white p-2 shadow-lg dark:border-slate-700 dark:bg-slate-900">
            <input
              className="input w-full"
              placeholder={`Search ${devices.length}${capped ? " (first ones only)" : ""} devices`}
              value={search}
              onChange={(e) => setSearch(e.target.value)}
            />
            <div className="mt-2 max-h-56 overflow-y-auto text-sm">
              <button
                type="button"
                className="block w-full rounded px-1 py-0.5 text-left hover:bg-slate-100 dark:hover:bg-slate-800"
                onClick={() => update({ devices: [] })}
              >
                All devices (merged)
              </button>
              {shown.map((d) => (
                <label key={d} className="flex items-center gap-2 px-1 py-0.5">
                  <input
                    type="checkbox"
                    checked={state.devices.includes(d)}
                    onChange={() => toggleDevice(d)}
                  />
                  <span className="truncate">{d}</span>
                </label>
              ))}
            </div>
            <button type="button" className="btn mt-2 w-full" onClick={() => setOpen(false)}>Done</button>
          </div>
        )}
      </div>
      <label className="block">
        <span className="label">Step</span>
        <select
          className="input mt-1 w-full"
          value={state.step}
          onChange={(e) => update({ step: e.target.value })}
        >
          {STEPS.map((s) => <option key={s} value={s}>{s || "auto"}</option>)}
        </select>
      </label>
      <div>
        <span className="label">Live</span>
        <label className="mt-2 flex items-center gap-2 text-sm">
          <input
            type="checkbox"
            checked={state.live}
            onChange={(e) => update({ live: e.target.checked })}
            data-testid="live"
          />
          append points as windows update
        </label>
      </div>
      <div className="md:col-span-2">
        <span className="label">Aggregates</span>
        <div className="mt-1 flex flex-wrap gap-1">
          {AGGREGATES.map((a) => (
            <button
              type="button"
              key={a}
              className={state.aggs.includes(a) ? "btn-primary" : "btn"}
              aria-pressed={state.aggs.includes(a)}
              onClick={() => toggleAgg(a)}
            >
              {a}
            </button>
          ))}
        </div>
      </div>
      <div className="md:col-span-2">
        <span className="label">Range</span>
        <div className="mt-1 flex flex-wrap items-center gap-1">
          {QUICK_RANGES.map((r) => (
            <button
              type="button"
              key={r}
              className={state.from === `now-${r}` && state.to === "now" ? "btn-primary" : "btn"}
              onClick={() => update({ from: `now-${r}`, to: "now" })}
            >
              {r}
            </button>
          ))}
          <input
            type="datetime-local"
            className="input"
            aria-label="From"
            value={toLocalInput(resolveTime(state.from, now))}
            onChange={(e) => e.target.value && update({ from: String(new Date(e.target.value).getTime()) })}
          />
          <input
            type="datetime-local"
            className="input"
            aria-label="To"
            value={toLocalInput(resolveTime(state.to, now))}
            onChange={(e) => e.target.value && update({ to: String(new Date(e.target.value).getTime()) })}
          />
          <button type="button" className="btn" onClick={props.onRefresh}>Refresh</button>
        </div>
      </div>
    </div>
  );
}
