/** Create or edit an alert rule as JSON (every field of the rule contract), with the server's field errors shown. */
import { useState } from "react";
import { api, errorText } from "../api.ts";
import { Card, ErrorBox } from "../components/ui.tsx";
import type { Rule } from "./alerts.tsx";

const TEMPLATE = {
  name: "HighTemp",
  kind: "threshold",
  eventType: "temperature",
  aggregate: "avg",
  window: "1m",
  groupBy: "device",
  op: ">",
  threshold: 30,
  for: "2m",
  keepFiringFor: "0s",
  severity: "warning",
  labels: {},
  annotations: { summary: "{{ $labels.deviceId }} is {{ $value }}" },
  receiver: null,
  escalation: null,
  enabled: true,
};

export function RuleEditor(props: { rule: Rule | null; onCancel(): void; onSaved(): void }) {
  const initial = props.rule
    ? Object.fromEntries(
      Object.entries(props.rule).filter(([k]) => !["id", "createdAt", "updatedAt"].includes(k)),
    )
    : TEMPLATE;
  const [text, setText] = useState(JSON.stringify(initial, null, 2));
  const [error, setError] = useState<string | null>(null);

  const save = async () => {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      setError(`Not valid JSON: ${(e as Error).message}`);
      return;
    }
    try {
      if (props.rule) await api(`/v1/alerts/rules/${props.rule.id}`, { method: "PUT", body });
      else await api("/v1/alerts/rules", { method: "POST", body });
      props.onSaved();
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <Card title={props.rule ? `Edit rule ${props.rule.name}` : "New rule"}>
      <textarea
        className="input h-72 w-full font-mono text-xs"
        spellCheck={false}
        value={text}
        onChange={(e) => setText(e.target.value)}
        aria-label="Rule JSON"
      />
      <ErrorBox error={error} />
      <div className="mt-2 flex gap-2">
        <button type="button" className="btn-primary" onClick={save}>Save</button>
        <button type="button" className="btn" onClick={props.onCancel}>Cancel</button>
      </div>
    </Card>
  );
}
