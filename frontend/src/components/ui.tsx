/** Small shared pieces: cards, stat tiles, error and empty states, the first-event hint. */
import type { ReactNode } from "react";

export function Card(
  props: { title?: ReactNode; actions?: ReactNode; children: ReactNode; className?: string },
) {
  return (
    <section className={`card ${props.className ?? ""}`}>
      {(props.title || props.actions) && (
        <div className="mb-3 flex flex-wrap items-center justify-between gap-2">
          <h2 className="text-sm font-semibold">{props.title}</h2>
          <div className="flex flex-wrap items-center gap-2">{props.actions}</div>
        </div>
      )}
      {props.children}
    </section>
  );
}

export function Stat(props: { label: string; value: ReactNode; hint?: ReactNode; testId?: string }) {
  return (
    <div className="card min-w-0">
      <div className="label truncate">{props.label}</div>
      <div className="mt-1 truncate text-xl font-semibold tabular-nums" data-testid={props.testId}>
        {props.value}
      </div>
      <div className="h-4 truncate text-xs text-slate-500 dark:text-slate-400">{props.hint}</div>
    </div>
  );
}

export function ErrorBox(props: { error: string | null }) {
  if (!props.error) return null;
  return (
    <div
      role="alert"
      className="rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200"
    >
      {props.error}
    </div>
  );
}

export function Notice(props: { children: ReactNode }) {
  return (
    <div className="rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100">
      {props.children}
    </div>
  );
}

export function Empty(props: { title: string; children?: ReactNode }) {
  return (
    <div className="rounded-md border border-dashed border-slate-300 p-6 text-center text-sm dark:border-slate-700">
      <p className="font-medium">{props.title}</p>
      <div className="mt-2 text-slate-500 dark:text-slate-400">{props.children}</div>
    </div>
  );
}

/** What to run to send a first event, with this server's origin filled in. */
export function FirstEventHint() {
  const cmd =
    `curl -X POST ${location.origin}/v1/events -H "x-api-key: $KEY" -H 'Content-Type: application/json' \\
  -d '{"deviceId":"sensor-1","eventType":"temperature","value":21.5}'`;
  return (
    <div className="text-left">
      <p>Send a first event (with an ingest key as $KEY), or start the simulator with npm run simulate:</p>
      <pre className="mt-2 overflow-x-auto rounded bg-slate-100 p-2 text-xs dark:bg-slate-800">{cmd}</pre>
    </div>
  );
}

export function Badge(props: { tone: "ok" | "warn" | "bad" | "info"; children: ReactNode }) {
  const tones = {
    ok: "bg-emerald-100 text-emerald-800 dark:bg-emerald-900 dark:text-emerald-100",
    warn: "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
    bad: "bg-red-100 text-red-800 dark:bg-red-900 dark:text-red-100",
    info: "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-200",
  };
  return (
    <span className={`rounded px-1.5 py-0.5 text-xs font-medium ${tones[props.tone]}`}>{props.children}</span>
  );
}
