/**
 * Live event tail: the `events` channel, filtered by device and type on the
 * server and by text here. Batches arrive once per animation frame and the
 * table renders at most every RENDER_MS; only the newest TAIL_MAX events are
 * kept, so a fast stream cannot grow the page.
 * Pause keeps receiving (into the kept list, and counting) but freezes the
 * table; Resume shows what arrived meanwhile. Lost messages are shown: the
 * server's `lagged` skips and this page's per-frame drops ("N skipped").
 */
import { memo, useEffect, useRef, useState } from "react";
import { type LiveMessage, LiveStream } from "../live.ts";
import { num, time } from "../format.ts";
import { Card, Empty, ErrorBox, FirstEventHint } from "../components/ui.tsx";
import { EventDetail, type EventView } from "./event-detail.tsx";

const TAIL_MAX = 200;
/** Least time between two renders of the table. */
const RENDER_MS = 250;

export function Tail() {
  const [device, setDevice] = useState("");
  const [type, setType] = useState("");
  const [text, setText] = useState("");
  const [applied, setApplied] = useState({ device: "", type: "" });
  const [paused, setPaused] = useState(false);
  const [rows, setRows] = useState<EventView[]>([]);
  const [selected, setSelected] = useState<EventView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [rate, setRate] = useState(0);
  const [missed, setMissed] = useState(0);
  const [skipped, setSkipped] = useState(0);
  const buffer = useRef<EventView[]>([]);
  const pausedRef = useRef(false);
  const received = useRef(0);
  pausedRef.current = paused;

  useEffect(() => {
    buffer.current = [];
    setRows([]);
    setSkipped(0);
    let renderTimer: ReturnType<typeof setTimeout> | 0 = 0;
    let lastRender = 0;
    const live = new LiveStream({
      channels: ["events"],
      deviceIds: applied.device ? [applied.device] : [],
      eventTypes: applied.type ? [applied.type] : [],
      maxBuffered: TAIL_MAX,
      // The error stays up through reconnect attempts until the stream is open again (no flicker).
      onStatus: (s, detail) => {
        if (s === "error") setError(`Live stream: ${detail}`);
        else if (s === "open") setError(null);
      },
      onGap: (gap) => setSkipped(gap.dropped + gap.skipped),
      onBatch: (messages: LiveMessage[]) => {
        const events = messages.filter((m) => m.type === "event").map((m) => m.data as EventView);
        received.current = live.received;
        buffer.current = events.slice(-TAIL_MAX).reverse().concat(buffer.current).slice(0, TAIL_MAX);
        if (pausedRef.current) {
          setMissed((n) => n + events.length);
          return;
        }
        // Render at most every RENDER_MS: a table of TAIL_MAX rows per frame would keep layout busy.
        if (!renderTimer) {
          renderTimer = setTimeout(() => {
            renderTimer = 0;
            setRows(buffer.current);
          }, Math.max(0, lastRender + RENDER_MS - performance.now()));
          lastRender = performance.now() + Math.max(0, lastRender + RENDER_MS - performance.now());
        }
      },
    });
    let last = received.current;
    const timer = setInterval(() => {
      setRate(received.current - last);
      last = received.current;
    }, 1000);
    return () => {
      live.close();
      clearInterval(timer);
      clearTimeout(renderTimer);
    };
  }, [applied]);

  const needle = text.toLowerCase();
  const shown = needle
    ? rows.filter((e) =>
      `${e.deviceId} ${e.eventType} ${e.value} ${JSON.stringify(e.metadata)} ${JSON.stringify(e.data)}`
        .toLowerCase().includes(needle)
    )
    : rows;

  return (
    <div className="space-y-4">
      <Card
        title={`Live events · ${num(rate)}/s${skipped ? ` · ${num(skipped)} skipped` : ""}`}
        actions={
          <>
            <form
              className="flex flex-wrap gap-2"
              onSubmit={(e) => {
                e.preventDefault();
                setApplied({ device: device.trim(), type: type.trim() });
              }}
            >
              <input
                className="input w-32"
                placeholder="deviceId"
                value={device}
                onChange={(e) => setDevice(e.target.value)}
              />
              <input
                className="input w-32"
                placeholder="eventType"
                value={type}
                onChange={(e) => setType(e.target.value)}
              />
              <button className="btn" type="submit">Apply</button>
            </form>
            <input
              className="input w-36"
              placeholder="Text filter"
              value={text}
              onChange={(e) => setText(e.target.value)}
              data-testid="tail-text"
            />
            <button
              type="button"
              className="btn"
              data-testid="pause"
              onClick={() => {
                if (paused) setRows(buffer.current);
                setPaused(!paused);
                setMissed(0);
              }}
            >
              {paused ? `Resume${missed ? ` (${num(missed)} new)` : ""}` : "Pause"}
            </button>
          </>
        }
      >
        <ErrorBox error={error} />
        {selected && (
          <div className="mb-3">
            <EventDetail event={selected} onClose={() => setSelected(null)} />
          </div>
        )}
        {rows.length === 0 && (
          <Empty title="Waiting for events…">
            <FirstEventHint />
          </Empty>
        )}
        {rows.length > 0 && (
          <div className="overflow-x-auto">
            <table className="w-full table-fixed text-sm" data-testid="tail-table">
              <colgroup>
                <col className="w-44" />
                <col className="w-32" />
                <col className="w-32" />
                <col className="w-24" />
                <col />
              </colgroup>
              <tbody>
                {shown.map((e) => <TailRow key={e.id} event={e} onSelect={setSelected} />)}
              </tbody>
            </table>
            <p className="mt-2 text-xs text-slate-500">
              The newest {TAIL_MAX} events are kept. Click a row for all its fields.
            </p>
          </div>
        )}
      </Card>
    </div>
  );
}

/** One row; memoized, so a render for new events touches only the new rows. */
const TailRow = memo(function TailRow(props: { event: EventView; onSelect(e: EventView): void }) {
  const e = props.event;
  return (
    <tr
      className="h-7 cursor-pointer hover:bg-slate-50 dark:hover:bg-slate-800/50"
      onClick={() => props.onSelect(e)}
      data-event-id={e.id}
    >
      <td className="cell truncate whitespace-nowrap">{time(e.timestamp)}</td>
      <td className="cell truncate">{e.deviceId}</td>
      <td className="cell truncate">{e.eventType}</td>
      <td className="cell truncate text-right tabular-nums">{num(e.value)}</td>
      <td className="cell truncate font-mono text-xs">{e.data ? JSON.stringify(e.data) : ""}</td>
    </tr>
  );
});
