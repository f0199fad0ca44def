/**
 * A Chart.js line chart on a time axis in a fixed-height box (no layout jumps
 * while data streams in). Updates reuse the chart instance without animation.
 * Dragging across the plot selects a range (`onZoom`; with a mouse, pen or
 * finger: the box has `touch-action: pan-y`, so a sideways drag reaches the
 * chart while a vertical swipe still scrolls the page, and a cancelled pointer
 * ends the drag); a legend click hides a series (Chart.js's default). A theme switch
 * recolours the same chart, so hidden series stay hidden. The box carries `data-points` (non-null points
 * drawn, all series), `data-updates` (redraws), `data-hidden` (series hidden by
 * a legend click), `data-legend` (legend entry centres) and `data-first-point-ms`
 * (when the first point was drawn, ms since navigation) for tests and benchmarks.
 */
import {
  Chart,
  type ChartDataset,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  TimeScale,
  Tooltip,
} from "chart.js";
import "chartjs-adapter-date-fns";
import { useEffect, useRef, useState } from "react";
import { useDark } from "../theme.ts";

Chart.register(LineController, LineElement, PointElement, LinearScale, TimeScale, Legend, Tooltip, Filler);

export interface Series {
  label: string;
  points: { x: number; y: number | null }[];
}

const PALETTE = ["#6366f1", "#10b981", "#f59e0b", "#ef4444", "#06b6d4", "#a855f7", "#84cc16", "#ec4899"];

export function seriesColor(i: number): string {
  return PALETTE[i % PALETTE.length];
}

/** Grid and text colours of the axes and legend for a theme. */
function themeColors(dark: boolean): { grid: string; text: string } {
  return dark
    ? { grid: "rgba(148,163,184,0.15)", text: "#cbd5e1" }
    : { grid: "rgba(100,116,139,0.15)", text: "#334155" };
}

function xScale(dark: boolean, min?: number, max?: number) {
  const { grid, text } = themeColors(dark);
  return {
    type: "time" as const,
    min,
    max,
    grid: { color: grid },
    ticks: { color: text, maxRotation: 0, autoSkip: true, maxTicksLimit: 6 },
    time: {
      displayFormats: { millisecond: "HH:mm:ss.SSS", second: "HH:mm:ss", minute: "HH:mm", hour: "HH:mm" },
    },
  };
}

export function TimeChart(props: {
  series: Series[];
  height?: number;
  xMin?: number;
  xMax?: number;
  yLabel?: string;
  onZoom?: (from: number, to: number) => void;
  testId?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart<"line", { x: number; y: number | null }[]> | null>(null);
  const updates = useRef(0);
  const dark = useDark();
  const [drag, setDrag] = useState<{ x0: number; x1: number } | null>(null);

  const darkRef = useRef(dark);
  darkRef.current = dark;

  useEffect(() => {
    const { grid, text } = themeColors(darkRef.current);
    chart.current = new Chart(canvas.current!, {
      type: "line",
      data: { datasets: [] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        spanGaps: false,
        interaction: { mode: "nearest", intersect: false, axis: "x" },
        elements: { point: { radius: 1.5, hoverRadius: 4 }, line: { borderWidth: 1.5 } },
        scales: {
          x: xScale(darkRef.current),
          y: {
            beginAtZero: true,
            grid: { color: grid },
            ticks: { color: text },
            title: { display: !!props.yLabel, text: props.yLabel ?? "", color: text },
          },
        },
        plugins: {
          legend: {
            labels: { color: text, boxWidth: 12 },
            // Chart.js's own toggle, then tell the box how many series are hidden.
            onClick(event, item, legend) {
              Chart.defaults.plugins.legend.onClick.call(this, event, item, legend);
              const c = legend.chart;
              box.current!.dataset.hidden = String(
                c.data.datasets.filter((_, i) => !c.isDatasetVisible(i)).length,
              );
            },
          },
          tooltip: { enabled: true },
        },
      },
    });
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
  }, [props.yLabel]);

  // A theme switch recolours the chart in place (datasets and their hidden state stay).
  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    const { grid, text } = themeColors(dark);
    const y = c.options.scales!.y!;
    y.grid!.color = grid;
    y.ticks!.color = text;
    if (y.title) y.title.color = text;
    c.options.plugins!.legend!.labels!.color = text;
    c.options.scales!.x = xScale(dark, props.xMin, props.xMax);
    c.update("none");
    box.current!.dataset.theme = dark ? "dark" : "light";
  }, [dark]);

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    const hidden = new Set(c.data.datasets.filter((_, i) => !c.isDatasetVisible(i)).map((d) => d.label));
    c.data.datasets = props.series.map((s, i): ChartDataset<"line", { x: number; y: number | null }[]> => ({
      label: s.label,
      data: s.points,
      borderColor: seriesColor(i),
      backgroundColor: seriesColor(i),
      hidden: hidden.has(s.label),
    }));
    c.options.scales!.x = xScale(dark, props.xMin, props.xMax);
    c.update("none");
    updates.current++;
    const points = props.series.reduce((n, s) => n + s.points.filter((p) => p.y !== null).length, 0);
    box.current!.dataset.points = String(points);
    // When the first point was drawn, ms since navigation start (for the benchmark).
    if (points > 0) box.current!.dataset.firstPointMs ??= String(Math.round(performance.now()));
    box.current!.dataset.series = String(props.series.length);
    box.current!.dataset.updates = String(updates.current);
    box.current!.dataset.hidden = String(c.data.datasets.filter((_, i) => !c.isDatasetVisible(i)).length);
    // Centres of the legend entries, relative to the box (for tests to click them).
    const hit = (c.legend as unknown as {
      legendHitBoxes?: { left: number; top: number; width: number; height: number }[];
    })
      ?.legendHitBoxes ?? [];
    box.current!.dataset.legend = JSON.stringify(
      hit.map((b) => [Math.round(b.left + b.width / 2), Math.round(b.top + b.height / 2)]),
    );
  }, [props.series, props.xMin, props.xMax, dark]);

  const area = () => chart.current?.chartArea;
  const localX = (e: React.PointerEvent) => e.clientX - box.current!.getBoundingClientRect().left;

  return (
    <div
      ref={box}
      className="relative w-full select-none"
      data-testid={props.testId}
      style={{ height: props.height ?? 256, touchAction: props.onZoom ? "pan-y" : undefined }}
      onPointerDown={(e) => {
        const a = area();
        if (!props.onZoom || !a || e.button !== 0) return;
        const x = localX(e);
        if (x < a.left || x > a.right) return;
        (e.target as Element).setPointerCapture?.(e.pointerId);
        setDrag({ x0: x, x1: x });
      }}
      onPointerMove={(e) => drag && setDrag({ ...drag, x1: localX(e) })}
      onPointerUp={() => {
        const c = chart.current;
        if (drag && c && Math.abs(drag.x1 - drag.x0) > 5) {
          const a = c.chartArea;
          const clamp = (v: number) => Math.min(a.right, Math.max(a.left, v));
          const from = c.scales.x.getValueForPixel(clamp(Math.min(drag.x0, drag.x1)))!;
          const to = c.scales.x.getValueForPixel(clamp(Math.max(drag.x0, drag.x1)))!;
          props.onZoom?.(Math.round(from), Math.round(to));
        }
        setDrag(null);
      }}
      onPointerCancel={() => setDrag(null)}
    >
      <canvas ref={canvas} />
      {drag && (
        <div
          className="pointer-events-none absolute top-0 bottom-0 bg-indigo-500/20"
          style={{ left: Math.min(drag.x0, drag.x1), width: Math.abs(drag.x1 - drag.x0) }}
        />
      )}
    </div>
  );
}
