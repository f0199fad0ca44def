/**
 * Metric explorer: series of aggregates for one event type over all devices
 * or chosen ones, any step and range, drag-to-zoom and zoom out, and live
 * mode that merges window updates from the `aggregates` channel into the
 * drawn points. All state is in the URL. When live messages were lost (the
 * server's `lagged`, or this page dropping frames) the range is fetched again,
 * so the chart never silently misses windows. The live status has a line of
 * its own under the chart, always there, so it cannot move the chart.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, errorText, query } from "../api.ts";
import { type LiveMessage, LiveStream } from "../live.ts";
import { href, pushHash, replaceHash } from "../route.ts";
import { type Series, TimeChart } from "../components/time-chart.tsx";
import { Card, Empty, ErrorBox, FirstEventHint } from "../components/ui.tsx";
import { ExplorerControls } from "./explorer-controls.tsx";
import { type ExplorerState, isRelative, readState, resolveTime, stateParams } from "../explorer-state.ts";

interface MetricsResponse {
  step: number;
  source: string;
  timestamps: number[];
  series: { deviceId?: string; values: Record<string, (number | null)[]> }[];
  truncated: boolean;
}

interface WindowUpdate {
  resolution: number;
  deviceId: string | null;
  start: number;
  values: Record<string, number | null>;
}

interface Loaded {
  step: number;
  source: string;
  xMin: number;
  xMax: number;
  span: number;
  /** label → (x → y), so live updates can overwrite a window's point. */
  points: Map<string, Map<number, number | null>>;
  truncated: boolean;
}

const label = (device: string | null | undefined, agg: string) => `${device ?? "all devices"} · ${agg}`;

export function Explorer(props: { params: URLSearchParams }) {
  const state = useMemo(() => readState(props.params), [props.params]);
  const [types, setTypes] = useState<string[] | null>(null);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [liveNote, setLiveNote] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [refresh, setRefresh] = useState(0);
  /** Bumped to fetch the range again after a live gap, without resubscribing. */
  const [reload, setReload] = useState(0);
  const loadedRef = useRef<Loaded | null>(null);

  // A range change (zoom, zoom out, quick or absolute range) is a history entry, so Back undoes it;
  // other edits (type, devices, aggregates, step, live) replace the current entry.
  const update = useCallback((next: Partial<ExplorerState>) => {
    const hash = href("explorer", null, stateParams({ ...state, ...next }));
    const range = (next.from !== undefined && next.from !== state.from) ||
      (next.to !== undefined && next.to !== state.to);
    (range ? pushHash : replaceHash)(hash);
  }, [state]);

  useEffect(() => {
    api<{ data: { eventType: string }[] }>("/v1/metrics/types").then((r) => {
      const names = r.data.map((t) => t.eventType);
      setTypes(names);
      if (!state.type && names.length) update({ type: names[0] });
    }, (e) => setError(errorText(e)));
  }, []);

  const key =
    `${state.type}|${state.devices}|${state.aggs}|${state.step}|${state.from}|${state.to}|${refresh}`;
  useEffect(() => {
    if (!state.type) return;
    const abort = new AbortController();
    setLoading(true);
    const q = query({
      eventType: state.type,
      deviceId: state.devices,
      agg: state.aggs.join(","),
      step: state.step,
      from: state.from,
      to: state.to,
      groupBy: state.devices.length ? "deviceId" : undefined,
    });
    const now = Date.now();
    api<MetricsResponse>(`/v1/metrics${q}`, { signal: abort.signal }).then((r) => {
      const points = new Map<string, Map<number, number | null>>();
      for (const s of r.series) {
        for (const agg of state.aggs) {
          const m = new Map<number, number | null>();
          r.timestamps.forEach((t, i) => m.set(t, s.values[agg]?.[i] ?? null));
          points.set(label(s.deviceId, agg), m);
        }
      }
      const xMin = resolveTime(state.from, now);
      const xMax = resolveTime(state.to, now);
      const next = {
        step: r.step,
        source: r.source,
        xMin,
        xMax,
        span: xMax - xMin,
        points,
        truncated: r.truncated,
      };
      loadedRef.current = next;
      setLoaded(next);
      setVersion((v) => v + 1);
      setError(null);
    }, (e) => {
      if ((e as Error).name !== "AbortError") setError(errorText(e));
    }).finally(() => setLoading(false));
    return () => abort.abort();
  }, [key, reload]);

  useEffect(() => {
    if (!state.live || !state.type) return;
    setLiveNote("Waiting for window updates…");
    let gapTimer: ReturnType<typeof setTimeout> | 0 = 0;
    const live = new LiveStream({
      channels: ["aggregates"],
      eventTypes: [state.type],
      deviceIds: state.devices,
      onStatus: (s, detail) => s === "error" && setLiveNote(`Live stream: ${detail}`),
      // Window updates were lost: fetch the range again (at most one refetch per second of gaps).
      onGap: (gap) => {
        setLiveNote(`${gap.dropped + gap.skipped} live updates were skipped; the range was fetched again.`);
        if (!gapTimer) {
          gapTimer = setTimeout(() => {
            gapTimer = 0;
            setReload((r) => r + 1);
          }, 1000);
        }
      },
      onBatch: (messages: LiveMessage[]) => {
        const cur = loadedRef.current;
        if (!cur) return;
        let changed = false;
        let otherResolution = false;
        for (const m of messages) {
          if (m.type !== "window" && m.type !== "correction") continue;
          const w = m.data as WindowUpdate;
          if (w.resolution !== cur.step) {
            otherResolution = true;
            continue;
          }
          if ((w.deviceId === null) !== (state.devices.length === 0)) continue;
          for (const agg of state.aggs) {
            const l = label(w.deviceId, agg);
            let series = cur.points.get(l);
            if (!series) cur.points.set(l, series = new Map());
            series.set(w.start, w.values[agg] ?? null);
          }
          if (isRelative(state)) {
            cur.xMax = Math.max(cur.xMax, w.start + cur.step);
            cur.xMin = cur.xMax - cur.span;
            for (const series of cur.points.values()) {
              for (const x of series.keys()) if (x < cur.xMin - cur.step) series.delete(x);
            }
          }
          changed = true;
        }
        if (changed) {
          setLiveNote(null);
          setVersion((v) => v + 1);
        } else if (otherResolution) {
          setLiveNote(
            `Live updates come per stream resolution (1 s, 1 min, 1 h by default); this view's step is ${
              cur.step / 1000
            } s.`,
          );
        }
      },
    });
    return () => {
      live.close();
      clearTimeout(gapTimer);
    };
  }, [state.live, key]);

  const series = useMemo<Series[]>(() => {
    if (!loaded) return [];
    return [...loaded.points].map(([l, m]) => ({
      label: l,
      points: [...m].sort((a, b) => a[0] - b[0]).map(([x, y]) => ({ x, y })),
    }));
  }, [loaded, version]);

  const zoomOut = () => {
    if (!loaded) return;
    const mid = (loaded.xMin + loaded.xMax) / 2;
    const span = Math.max(loaded.span, 1000) * 2;
    update({
      from: String(Math.round(mid - span / 2)),
      to: String(Math.round(Math.min(Date.now(), mid + span / 2))),
    });
  };

  if (types && types.length === 0) {
    return (
      <Empty title="No events yet, so nothing to explore">
        <FirstEventHint />
      </Empty>
    );
  }
  return (
    <div className="space-y-4">
      <ExplorerControls
        state={state}
        types={types ?? []}
        update={update}
        onRefresh={() => setRefresh((r) => r + 1)}
      />
      <ErrorBox error={error} />
      <Card
        title={state.type
          ? `${state.type}${loaded ? ` · step ${loaded.step / 1000} s · ${loaded.source}` : ""}`
          : "Pick an event type"}
        actions={
          <>
            {loading && <span className="text-xs text-slate-500">loading…</span>}
            <button type="button" className="btn" onClick={zoomOut} disabled={!loaded} data-testid="zoom-out">
              Zoom out
            </button>
          </>
        }
      >
        <TimeChart
          series={series}
          height={360}
          xMin={loaded?.xMin}
          xMax={loaded?.xMax}
          testId="explorer-chart"
          onZoom={(from, to) => update({ from: String(from), to: String(to) })}
        />
        <p
          className="mt-2 h-8 overflow-hidden text-xs text-amber-700 dark:text-amber-300"
          data-testid="live-status"
        >
          {state.live ? liveNote ?? "Live: window updates are merged as they arrive." : ""}
        </p>
        <p className="text-xs text-slate-500">
          Drag across the chart to zoom in; click a legend entry to hide its series.
          {loaded?.truncated && " More series exist than are shown (METRICS_MAX_SERIES)."}
        </p>
      </Card>
    </div>
  );
}
