/** Admin: the audit log, newest first, paged with `nextCursor`. */
import { useEffect, useState } from "react";
import { api, errorText, query } from "../api.ts";
import { time } from "../format.ts";
import { Card, Empty, ErrorBox } from "../components/ui.tsx";

type Entry = Record<string, unknown> & { seq: number; at: string };

export function Audit() {
  const [entries, setEntries] = useState<Entry[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = async (from: string | null) => {
    try {
      const page = await api<{ entries: Entry[]; nextCursor: string | null }>(
        `/v1/admin/audit${query({ limit: 100, cursor: from })}`,
      );
      setEntries((old) => (from ? [...old, ...page.entries] : page.entries));
      setCursor(page.nextCursor);
      setDone(page.nextCursor === null);
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => void load(null), []);

  const columns = [...new Set(entries.flatMap((e) => Object.keys(e)))].filter((c) =>
    c !== "seq" && c !== "at"
  );
  return (
    <Card title="Audit log">
      <ErrorBox error={error} />
      {entries.length === 0 && !error &&
        <Empty title="No audit entries yet: key changes are recorded here" />}
      {entries.length > 0 && (
        <div className="overflow-x-auto">
          <table className="w-full text-sm" data-testid="audit-table">
            <thead>
              <tr className="label">
                <th className="cell">When</th>
                {columns.map((c) => <th key={c} className="cell">{c}</th>)}
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.seq}>
                  <td className="cell whitespace-nowrap">{time(e.at)}</td>
                  {columns.map((c) => (
                    <td key={c} className="cell font-mono text-xs break-all">
                      {typeof e[c] === "object" && e[c] !== null ? JSON.stringify(e[c]) : String(e[c] ?? "")}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {!done && entries.length > 0 && (
        <button type="button" className="btn mt-3" onClick={() => load(cursor)}>Older entries</button>
      )}
    </Card>
  );
}
