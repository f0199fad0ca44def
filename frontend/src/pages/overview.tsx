/**
 * Overview: the system right now, every figure from the live `stats` channel
 * (one message a second): ingest rate by outcome, receive→aggregate latency,
 * commit batch size, queue depth, subscribers, store size, memory, uptime and
 * health. /health is read once, for the server's version only.
 */
import { useEffect, useMemo, useRef, useState } from "react";
import { api, errorText } from "../api.ts";
import { type LiveMessage, LiveStream } from "../live.ts";
import { type Series, TimeChart } from "../components/time-chart.tsx";
import { Badge, Card, Empty, ErrorBox, FirstEventHint, Stat } from "../components/ui.tsx";
import { bytes, duration, ms, num } from "../format.ts";

interface Stats {
  at: string;
  uptimeSeconds: number;
  queuedEvents: number;
  subscribers: number;
  lagged: number;
  memory: { rss: number; heapUsed: number } | null;
  stream: {
    lateEvents: number;
    receiveToAggregateMs: { p50: number | null; p95: number | null; p99: number | null };
  } | null;
  /** The store's last probe (server: backend/realtime/store-probe.ts). */
  health?: { status: string; database: string };
  store?: { engine: string; events: number | null; bytes: number | null };
  /** null with METRICS_INSTRUMENTATION=off (the figures come from the metrics registry). */
  ingest?: {
    accepted: number;
    duplicate: number;
    rejected: number;
    rateLimited: number;
    lastCommitEvents: number;
    meanCommitEvents: number;
  } | null;
}

interface Health {
  version: string;
}

interface Sample {
  t: number;
  /** null for the first sample (rates need two). */
  rates: Record<Outcome, number | null>;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

const OUTCOMES = ["accepted", "duplicate", "rejected", "late", "rateLimited"] as const;
type Outcome = typeof OUTCOMES[number];
const LABELS: Record<Outcome, string> = {
  accepted: "accepted",
  duplicate: "duplicate",
  rejected: "rejected",
  late: "late",
  rateLimited: "rate-limited",
};
const HISTORY = 120;

/** Running totals by outcome; null where the server has none (ingest figures off). */
function totals(s: Stats): Record<Outcome, number | null> {
  const ingest = s.ingest ?? null;
  return {
    accepted: ingest?.accepted ?? null,
    duplicate: ingest?.duplicate ?? null,
    rejected: ingest?.rejected ?? null,
    late: s.stream?.lateEvents ?? null,
    rateLimited: ingest?.rateLimited ?? null,
  };
}

/** Events per second between two totals `dt` seconds apart; null if either is missing. */
function rate(now: number | null, before: number | null | undefined, dt: number): number | null {
  return now === null || before === null || before === undefined ? null : Math.max(0, (now - before) / dt);
}

export function Overview() {
  const [stats, setStats] = useState<Stats | null>(null);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [version, setVersion] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [liveError, setLiveError] = useState<string | null>(null);
  const prev = useRef<Stats | null>(null);

  useEffect(() => {
    const live = new LiveStream({
      channels: ["stats"],
      // The error stays up through reconnect attempts until the stream is open again (no flicker).
      onStatus: (s, detail) => {
        if (s === "error") setLiveError(`Live stream: ${detail}`);
        else if (s === "open") setLiveError(null);
      },
      onBatch: (messages: LiveMessage[]) => {
        const batch = messages.filter((m) => m.type === "stats").map((m) => m.data as Stats);
        if (!batch.length) return;
        const next: Sample[] = [];
        for (const s of batch) {
          const p = prev.current;
          const dt = p ? (Date.parse(s.at) - Date.parse(p.at)) / 1000 : 0;
          if (p && dt < 0.5) continue; // the snapshot sent on subscribing, just before a tick
          prev.current = s;
          const a = totals(s);
          const b = p ? totals(p) : null;
          const rates = Object.fromEntries(OUTCOMES.map((o) => [o, rate(a[o], b?.[o], dt)])) as Record<
            Outcome,
            number | null
          >;
          const lat = s.stream?.receiveToAggregateMs;
          next.push({
            t: Date.parse(s.at),
            rates,
            p50: lat?.p50 ?? null,
            p95: lat?.p95 ?? null,
            p99: lat?.p99 ?? null,
          });
        }
        setStats(batch[batch.length - 1]);
        if (next.length) setSamples((old) => [...old, ...next].slice(-HISTORY));
      },
    });
    return () => live.close();
  }, []);

  useEffect(() => {
    let stop = false;
    api<Health>("/health").then(
      (h) => !stop && setVersion(h.version),
      (e) => !stop && setError(errorText(e)),
    );
    return () => {
      stop = true;
    };
  }, []);

  const rateSeries = useMemo<Series[]>(
    () =>
      OUTCOMES.map((o) => ({ label: LABELS[o], points: samples.map((s) => ({ x: s.t, y: s.rates[o] })) })),
    [samples],
  );
  const latencySeries = useMemo<Series[]>(
    () =>
      (["p50", "p95", "p99"] as const).map((q) => ({
        label: q,
        points: samples.map((s) => ({ x: s.t, y: s[q] })),
      })),
    [samples],
  );
  const last = samples.at(-1);
  const xMax = last?.t;
  const xMin = xMax === undefined ? undefined : xMax - HISTORY * 1000;
  const lat = stats?.stream?.receiveToAggregateMs;
  const health = stats?.health ?? null;
  const store = stats?.store ?? null;
  const healthy = health?.status === "ok";
  // `ingest` null: the server runs with METRICS_INSTRUMENTATION=off, so it has no ingest figures.
  const ingestOff = stats !== null && stats.ingest === null;
  const ingestHint = (hint: string) => ingestOff ? "off: METRICS_INSTRUMENTATION=off" : hint;

  return (
    <div className="space-y-4">
      <ErrorBox error={error} />
      <ErrorBox error={liveError} />
      <div className="grid grid-cols-2 gap-3 md:grid-cols-4 xl:grid-cols-6">
        <Stat
          label="Health"
          value={health ? <Badge tone={healthy ? "ok" : "bad"}>{health.status}</Badge> : "–"}
          hint={health ? `database ${health.database}${version ? ` · v${version}` : ""}` : ""}
          testId="health"
        />
        <Stat
          label="Accepted/s"
          value={num(last?.rates.accepted ?? null, 1)}
          hint={ingestHint("events per second")}
          testId="rate-accepted"
        />
        <Stat
          label="Accepted total"
          value={num(stats?.ingest?.accepted ?? null)}
          hint={ingestHint("since this process started")}
          testId="accepted-total"
        />
        <Stat
          label="Receive → aggregate p99"
          value={ms(lat?.p99)}
          hint={`p50 ${ms(lat?.p50)} · p95 ${ms(lat?.p95)}`}
          testId="latency"
        />
        <Stat
          label="Commit batch"
          value={num(stats?.ingest?.lastCommitEvents ?? null, 1)}
          hint={ingestHint(
            `events per commit lately; ${num(stats?.ingest?.meanCommitEvents ?? null, 1)} since start`,
          )}
        />
        <Stat
          label="Queue depth"
          value={num(stats?.queuedEvents ?? null)}
          hint="events waiting to commit"
          testId="queue"
        />
        <Stat
          label="Live subscribers"
          value={num(stats?.subscribers ?? null)}
          hint={`${num(stats?.lagged ?? null)} lagged`}
        />
        <Stat
          label="Store"
          value={bytes(store?.bytes)}
          hint={`${num(store?.events ?? null)} events · ${store?.engine ?? ""}`}
          testId="store"
        />
        <Stat
          label="Memory (RSS)"
          value={bytes(stats?.memory?.rss)}
          hint={`heap ${bytes(stats?.memory?.heapUsed)}`}
        />
        <Stat
          label="Uptime"
          value={duration(stats?.uptimeSeconds)}
          hint={stats ? "live" : "waiting for stats…"}
          testId="uptime"
        />
        <Stat
          label="Rejected/s"
          value={num(last?.rates.rejected ?? null, 1)}
          hint={ingestHint("invalid or too large")}
        />
        <Stat
          label="Rate-limited/s"
          value={num(last?.rates.rateLimited ?? null, 1)}
          hint={ingestHint("refused with 429")}
        />
      </div>
      <div className="grid gap-4 lg:grid-cols-2">
        <Card title="Ingest rate by outcome (events/s)">
          <TimeChart series={rateSeries} testId="chart-rate" xMin={xMin} xMax={xMax} />
        </Card>
        <Card title="Receive → aggregate latency (ms)">
          <TimeChart series={latencySeries} testId="chart-latency" xMin={xMin} xMax={xMax} />
        </Card>
      </div>
      {store && store.events === 0 && (
        <Empty title="No events stored yet">
          <FirstEventHint />
        </Empty>
      )}
    </div>
  );
}
