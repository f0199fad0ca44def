/** Sign-in: the key is asked once and kept in sessionStorage until sign-out or the tab closes. */
import { useState } from "react";
import { ErrorBox } from "../components/ui.tsx";

export function SignIn(props: { onSignIn(key: string): Promise<void>; error: string | null }) {
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  return (
    <div className="flex min-h-screen items-center justify-center p-4">
      <form
        className="card w-full max-w-md space-y-4"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          await props.onSignIn(key.trim());
          setBusy(false);
        }}
      >
        <h1 className="text-xl font-bold text-indigo-600 dark:text-indigo-400">PulseStream</h1>
        <p className="text-sm text-slate-600 dark:text-slate-300">
          Sign in with an API key that has the <code>read</code>{" "}
          scope (admin keys also see API keys and the audit log). The key stays in this tab only.
        </p>
        <label className="block">
          <span className="label">API key</span>
          <input
            className="input mt-1 w-full font-mono"
            type="password"
            autoComplete="off"
            name="apiKey"
            value={key}
            onChange={(e) => setKey(e.target.value)}
            placeholder="psk_…"
            required
          />
        </label>
        <ErrorBox error={props.error} />
        <button className="btn-primary w-full" type="submit" disabled={busy || !key.trim()}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        <p className="text-xs text-slate-500">
          The server prints an admin key on its first start; or create one with{" "}
          <code>npm run keys -- create --name dashboard --scopes read</code>.
        </p>
      </form>
    </div>
  );
}
