/**
 * Alerts (docs: the alerting API): firing and pending alerts, rules (create,
 * edit, delete, silence), silences and history; refreshed after messages
 * of the live `alerts` channel, at most once every RELOAD_MS. A server without
 * alerting answers 404, and the page says so instead of failing.
 */
import { useCallback, useEffect, useState } from "react";
import { api, ApiError, errorText, query } from "../api.ts";
import { LiveStream } from "../live.ts";
import { time } from "../format.ts";
import { useSession } from "../session.ts";
import { Badge, Card, Empty, ErrorBox, Notice } from "../components/ui.tsx";
import { RuleEditor } from "./rule-editor.tsx";

export interface Rule {
  id: string;
  name: string;
  kind: string;
  eventType?: string;
  aggregate?: string | null;
  window?: string;
  op: string;
  threshold: number;
  for: string;
  severity: string;
  enabled: boolean;
  [k: string]: unknown;
}
interface Alert {
  fingerprint: string;
  ruleName: string;
  severity: string;
  state: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number | null;
  activeAt: string;
  firedAt: string | null;
  silenced: boolean;
}
interface Transition {
  seq: number;
  at: string;
  ruleId: string;
  fingerprint: string;
  labels: Record<string, string>;
  from: string;
  to: string;
  value: number | null;
}
interface Silence {
  id: string;
  matchers: { name: string; value: string }[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  /** Added by the alerting backend ("active" | "pending" | "expired"); older servers leave it out. */
  status?: string;
}

/** One line for a rule; tolerates fields a server leaves null (system rules have no aggregate). */
export function describeRule(r: Rule): string {
  if (r.kind === "threshold") {
    return `${r.aggregate ?? "?"}(${r.eventType}) over ${r.window} ${r.op} ${r.threshold} for ${r.for}`;
  }
  if (r.kind === "nodata") return `no ${r.eventType} events for ${r.window ?? r.for}`;
  if (r.kind === "system") return `system ${String(r.metric ?? "?")} ${r.op} ${r.threshold} for ${r.for}`;
  return r.kind;
}

/** Least time between two reloads triggered by the live channel. */
const RELOAD_MS = 1000;

const tone = (
  s: string,
) => (s === "critical" || s === "firing" ? "bad" : s === "warning" || s === "pending" ? "warn" : "info");

export function Alerts() {
  const { isAdmin } = useSession();
  const [unavailable, setUnavailable] = useState(false);
  const [rules, setRules] = useState<Rule[] | null>(null);
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [history, setHistory] = useState<Transition[]>([]);
  /** The history page's `next` cursor (older entries), or null at the end. */
  const [next, setNext] = useState<string | null>(null);
  const [silences, setSilences] = useState<Silence[]>([]);
  const [editing, setEditing] = useState<Rule | "new" | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const r = await api<{ rules: Rule[] }>("/v1/alerts/rules");
      const [a, h, s] = await Promise.all([
        api<{ alerts: Alert[] }>("/v1/alerts"),
        api<{ history: Transition[]; next?: string | null }>("/v1/alerts/history?limit=50"),
        api<{ silences: Silence[] }>("/v1/alerts/silences"),
      ]);
      setRules(r.rules);
      setAlerts(a.alerts);
      setHistory(h.history);
      setNext(h.next ?? null);
      setSilences(s.silences);
      setError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setUnavailable(true);
      else setError(errorText(e));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);
  const [liveError, setLiveError] = useState<string | null>(null);
  useEffect(() => {
    if (unavailable) return;
    // A burst of state changes reloads once: the first change after a quiet second loads at once,
    // later ones wait until RELOAD_MS has passed since the last load.
    let last = 0;
    let timer: ReturnType<typeof setTimeout> | 0 = 0;
    const schedule = () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = 0;
        last = Date.now();
        void load();
      }, Math.max(0, last + RELOAD_MS - Date.now()));
    };
    const live = new LiveStream({
      channels: ["alerts"],
      onBatch: schedule,
      onStatus: (s, detail) => {
        if (s === "error") setLiveError(`Live stream: ${detail}`);
        else if (s === "open") setLiveError(null);
      },
    });
    return () => {
      live.close();
      clearTimeout(timer);
    };
  }, [unavailable, load]);

  if (unavailable) {
    return (
      <Notice>
        Alerting is not available on this server: <code>GET /v1/alerts/rules</code>{" "}
        answered 404. This build has no alerting API yet; the page works once the server has one.
      </Notice>
    );
  }

  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  };
  const older = async () => {
    try {
      const h = await api<{ history: Transition[]; next?: string | null }>(
        `/v1/alerts/history${query({ limit: 50, before: next })}`,
      );
      setHistory((old) => [...old, ...h.history]);
      setNext(h.next ?? null);
    } catch (e) {
      setError(errorText(e));
    }
  };
  const silence = (rule: Rule) =>
    act(() =>
      api("/v1/alerts/silences", {
        method: "POST",
        body: {
          matchers: [{ name: "alertname", value: rule.name, isRegex: false, isEqual: true }],
          startsAt: new Date().toISOString(),
          endsAt: new Date(Date.now() + 3_600_000).toISOString(),
          comment: "silenced for 1 h from the dashboard",
        },
      })
    );

  return (
    <div className="space-y-4">
      <ErrorBox error={error} />
      <ErrorBox error={liveError} />
      <Card title={`Active alerts (${alerts.length})`}>
        {alerts.length === 0
          ? <Empty title="Nothing pending or firing" />
          : (
            <ul className="divide-y divide-slate-100 text-sm dark:divide-slate-800">
              {alerts.map((a) => (
                <li key={a.fingerprint} className="flex flex-wrap items-center gap-2 py-2">
                  <Badge tone={tone(a.state)}>{a.state}</Badge>
                  <Badge tone={tone(a.severity)}>{a.severity}</Badge>
                  <b>{a.ruleName}</b>
                  <span className="text-slate-500">
                    {Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(" ")}
                  </span>
                  <span>{a.annotations.summary}</span>
                  <span className="ml-auto text-xs text-slate-500">
                    since {time(a.activeAt)}
                    {a.silenced ? " · silenced" : ""}
                  </span>
                </li>
              ))}
            </ul>
          )}
      </Card>
      {editing && (
        <RuleEditor
          rule={editing === "new" ? null : editing}
          onCancel={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            void load();
          }}
        />
      )}
      <Card
        title="Rules"
        actions={isAdmin && (
          <button type="button" className="btn-primary" onClick={() => setEditing("new")}>
            New rule
          </button>
        )}
      >
        {rules && rules.length === 0 && (
          <Empty title="No rules yet">Create one with “New rule” (admin key).</Empty>
        )}
        <div className="overflow-x-auto">
          <table className="w-full text-sm">
            <tbody>
              {(rules ?? []).map((r) => (
                <tr key={r.id}>
                  <td className="cell font-medium">{r.name}</td>
                  <td className="cell text-xs">
                    {describeRule(r)}
                  </td>
                  <td className="cell">
                    <Badge tone={tone(r.severity)}>{r.severity}</Badge>
                  </td>
                  <td className="cell">{r.enabled ? "enabled" : "disabled"}</td>
                  <td className="cell whitespace-nowrap">
                    {isAdmin && (
                      <>
                        <button type="button" className="btn mr-1" onClick={() => setEditing(r)}>Edit</button>
                        <button type="button" className="btn mr-1" onClick={() => silence(r)}>
                          Silence 1 h
                        </button>
                        <button
                          type="button"
                          className="btn"
                          onClick={() =>
                            confirm(`Delete rule ${r.name}?`) &&
                            act(() => api(`/v1/alerts/rules/${r.id}`, { method: "DELETE" }))}
                        >
                          Delete
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Card>
      <div className="grid gap-4 lg:grid-cols-2">
        <Card title="Silences">
          {silences.length === 0 ? <Empty title="No silences" /> : (
            <ul className="text-sm">
              {silences.map((s) => (
                <li key={s.id} className="flex items-center gap-2 py-1">
                  <span>{s.matchers.map((m) => `${m.name}=${m.value}`).join(", ")}</span>
                  <span className="text-xs text-slate-500">
                    {s.status && s.status !== "active" ? `${s.status} · ` : ""}until {time(s.endsAt)}
                  </span>
                  {isAdmin && s.status !== "expired" && (
                    <button
                      type="button"
                      className="btn ml-auto"
                      onClick={() => act(() => api(`/v1/alerts/silences/${s.id}`, { method: "DELETE" }))}
                    >
                      Expire
                    </button>
                  )}
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title="History">
          {history.length === 0 ? <Empty title="No state changes yet" /> : (
            <ul className="text-sm">
              {history.map((h) => (
                <li key={h.seq} className="py-0.5">
                  <span className="text-xs text-slate-500">{time(h.at)}</span>{" "}
                  {h.labels.alertname ?? h.ruleId}: {h.from} → <b>{h.to}</b>
                  {h.value !== null && ` (${h.value})`}
                </li>
              ))}
            </ul>
          )}
          {next && (
            <button
              type="button"
              className="btn mt-2"
              onClick={() => void older()}
              data-testid="history-older"
            >
              Older
            </button>
          )}
        </Card>
      </div>
    </div>
  );
}
