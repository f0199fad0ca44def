/** Admin: API keys — list, create (the secret is shown once), revoke. */
import { useCallback, useEffect, useState } from "react";
import { api, errorText } from "../api.ts";
import { ago, time } from "../format.ts";
import { Badge, Card, ErrorBox } from "../components/ui.tsx";

interface Key {
  id: string;
  name: string;
  scopes: string[];
  status: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

const SCOPES = ["ingest", "read", "admin"];

export function Keys() {
  const [keys, setKeys] = useState<Key[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>(["ingest"]);
  const [expires, setExpires] = useState("");
  const [secret, setSecret] = useState<{ name: string; key: string } | null>(null);

  const load = useCallback(() => {
    api<{ keys: Key[] }>("/v1/admin/keys").then((r) => setKeys(r.keys), (e) => setError(errorText(e)));
  }, []);
  useEffect(load, [load]);

  const create = async () => {
    setError(null);
    try {
      const created = await api<Key & { key: string }>("/v1/admin/keys", {
        method: "POST",
        body: { name, scopes, ...(expires ? { expiresAt: new Date(expires).toISOString() } : {}) },
      });
      setSecret({ name: created.name, key: created.key });
      setName("");
      load();
    } catch (e) {
      setError(errorText(e));
    }
  };
  const revoke = async (k: Key) => {
    if (!confirm(`Revoke ${k.name} (${k.id})? Requests with it fail at once.`)) return;
    try {
      await api(`/v1/admin/keys/${encodeURIComponent(k.id)}`, { method: "DELETE" });
      load();
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <div className="space-y-4">
      <Card title="Create a key">
        <form
          className="flex flex-wrap items-end gap-3"
          onSubmit={(e) => {
            e.preventDefault();
            void create();
          }}
        >
          <label className="block">
            <span className="label">Name</span>
            <input
              className="input mt-1 block"
              value={name}
              onChange={(e) => setName(e.target.value)}
              required
              maxLength={100}
              data-testid="key-name"
            />
          </label>
          <fieldset className="flex gap-3 text-sm">
            {SCOPES.map((s) => (
              <label key={s} className="flex items-center gap-1">
                <input
                  type="checkbox"
                  checked={scopes.includes(s)}
                  onChange={() =>
                    setScopes(scopes.includes(s) ? scopes.filter((x) => x !== s) : [...scopes, s])}
                />
                {s}
              </label>
            ))}
          </fieldset>
          <label className="block">
            <span className="label">Expires (optional)</span>
            <input
              type="datetime-local"
              className="input mt-1 block"
              value={expires}
              onChange={(e) => setExpires(e.target.value)}
            />
          </label>
          <button
            className="btn-primary"
            type="submit"
            disabled={!name || !scopes.length}
            data-testid="create-key"
          >
            Create
          </button>
        </form>
        {secret && (
          <div
            className="mt-3 rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm dark:border-emerald-800 dark:bg-emerald-950"
            role="status"
          >
            <p>
              Key <b>{secret.name}</b> created. Copy the secret now: it is not shown again.
            </p>
            <code className="mt-1 block font-mono break-all" data-testid="new-secret">{secret.key}</code>
            <button type="button" className="btn mt-2" onClick={() => setSecret(null)}>
              I have copied it
            </button>
          </div>
        )}
      </Card>
      <ErrorBox error={error} />
      <Card title="API keys">
        <div className="overflow-x-auto">
          <table className="w-full text-sm" data-testid="keys-table">
            <thead>
              <tr className="label">
                <th className="cell">Name</th>
                <th className="cell">Id</th>
                <th className="cell">Scopes</th>
                <th className="cell">Status</th>
                <th className="cell">Created</th>
                <th className="cell">Last used</th>
                <th className="cell">Expires</th>
                <th className="cell"></th>
              </tr>
            </thead>
            <tbody>
              {(keys ?? []).map((k) => (
                <tr key={k.id} data-key-id={k.id}>
                  <td className="cell">{k.name}</td>
                  <td className="cell font-mono text-xs">{k.id}</td>
                  <td className="cell">{k.scopes.join(", ")}</td>
                  <td className="cell" data-testid="key-status">
                    <Badge tone={k.status === "active" ? "ok" : "bad"}>{k.status}</Badge>
                  </td>
                  <td className="cell whitespace-nowrap">{time(k.createdAt)}</td>
                  <td className="cell whitespace-nowrap">{ago(k.lastUsedAt)}</td>
                  <td className="cell whitespace-nowrap">
                    {k.expiresAt ? time(k.expiresAt) : "never"}
                  </td>
                  <td className="cell">
                    {k.status === "active" && (
                      <button
                        type="button"
                        className="btn"
                        onClick={() => revoke(k)}
                        data-testid="revoke"
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Card>
    </div>
  );
}
