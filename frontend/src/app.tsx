/**
 * The shell: sign-in gate, navigation (admin entries only for admin keys),
 * theme switch, and the page for the current route.
 */
import { useEffect, useState } from "react";
import { api, ApiError, errorText, KEY_REFUSED, storedKey, storeKey, type Whoami } from "./api.ts";
import { href, useRoute } from "./route.ts";
import { SessionContext } from "./session.ts";
import { setTheme, type ThemeChoice, themeChoice } from "./theme.ts";
import { SignIn } from "./pages/sign-in.tsx";
import { Overview } from "./pages/overview.tsx";
import { Explorer } from "./pages/explorer.tsx";
import { Devices } from "./pages/devices.tsx";
import { DeviceDetail } from "./pages/device-detail.tsx";
import { Tail } from "./pages/tail.tsx";
import { Alerts } from "./pages/alerts.tsx";
import { Keys } from "./pages/keys.tsx";
import { Audit } from "./pages/audit.tsx";

const PAGES = [
  { page: "overview", label: "Overview" },
  { page: "explorer", label: "Explorer" },
  { page: "devices", label: "Devices" },
  { page: "tail", label: "Live tail" },
  { page: "alerts", label: "Alerts" },
  { page: "keys", label: "API keys", admin: true },
  { page: "audit", label: "Audit log", admin: true },
];

/** Started with the module, so the key check runs while React sets up. */
let initialCheck: Promise<Whoami> | null = storedKey() === null ? null : api<Whoami>("/v1/auth/whoami");

export function App() {
  const [who, setWho] = useState<Whoami | null>(null);
  const [checking, setChecking] = useState(() => storedKey() !== null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!checking) return;
    const check = initialCheck ?? api<Whoami>("/v1/auth/whoami");
    initialCheck = null;
    check.then(setWho, (e) => {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) storeKey(null);
      setError(errorText(e));
    }).finally(() => setChecking(false));
  }, [checking]);

  useEffect(() => {
    // A revoked or expired key mid-session: back to sign-in, saying why (api.ts / live.ts fire this on 401).
    const refused = (e: Event) => {
      setWho(null);
      setError(`Signed out: ${(e as CustomEvent<string>).detail}`);
    };
    addEventListener(KEY_REFUSED, refused);
    return () => removeEventListener(KEY_REFUSED, refused);
  }, []);

  const signIn = async (key: string) => {
    setError(null);
    try {
      const w = await api<Whoami>("/v1/auth/whoami", { key });
      if (!w.scopes.includes("read")) {
        throw new Error("This key has no read scope; the dashboard needs a read key");
      }
      storeKey(key);
      setWho(w);
    } catch (e) {
      setError(errorText(e));
    }
  };
  const signOut = () => {
    storeKey(null);
    setWho(null);
  };

  if (checking) return <div className="p-8 text-sm">Checking the key…</div>;
  if (!who) return <SignIn onSignIn={signIn} error={error} />;
  return (
    <SessionContext.Provider value={{ who, isAdmin: who.scopes.includes("admin"), signOut }}>
      <Shell who={who} signOut={signOut} />
    </SessionContext.Provider>
  );
}

function Shell(props: { who: Whoami; signOut(): void }) {
  const route = useRoute();
  const isAdmin = props.who.scopes.includes("admin");
  const [theme, setThemeState] = useState<ThemeChoice>(themeChoice);
  const [menu, setMenu] = useState(false);
  const pages = PAGES.filter((p) => !p.admin || isAdmin);
  useEffect(() => setMenu(false), [route.page, route.id]);

  return (
    <div className="min-h-screen">
      <header className="sticky top-0 z-10 border-b border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-950">
        <div className="mx-auto flex max-w-7xl items-center gap-3 px-3 py-2">
          <a href="#/overview" className="font-bold text-indigo-600 dark:text-indigo-400">PulseStream</a>
          <button type="button" className="btn md:hidden" aria-label="Menu" onClick={() => setMenu(!menu)}>
            ☰
          </button>
          <nav
            className={`${
              menu ? "flex" : "hidden"
            } absolute top-full right-0 left-0 flex-col gap-1 border-b border-slate-200 bg-white p-2 md:static md:flex md:flex-row md:border-0 md:bg-transparent md:p-0 dark:border-slate-800 dark:bg-slate-950 md:dark:bg-transparent`}
          >
            {pages.map((p) => (
              <a
                key={p.page}
                href={href(p.page)}
                data-nav={p.page}
                className={`rounded px-2 py-1 text-sm ${
                  route.page === p.page
                    ? "bg-indigo-50 font-semibold text-indigo-700 dark:bg-indigo-950 dark:text-indigo-300"
                    : "hover:bg-slate-100 dark:hover:bg-slate-800"
                }`}
              >
                {p.label}
              </a>
            ))}
          </nav>
          <div className="ml-auto flex items-center gap-2">
            <select
              className="input"
              aria-label="Theme"
              value={theme}
              onChange={(e) => {
                const v = e.target.value as ThemeChoice;
                setTheme(v);
                setThemeState(v);
              }}
            >
              <option value="system">System</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
            <span className="hidden text-xs text-slate-500 lg:inline" title={props.who.scopes.join(", ")}>
              {props.who.name}
            </span>
            <button
              type="button"
              className="btn whitespace-nowrap"
              onClick={props.signOut}
              data-testid="sign-out"
            >
              Sign out
            </button>
          </div>
        </div>
      </header>
      <main className="mx-auto max-w-7xl p-3 md:p-4">
        <Page page={route.page} id={route.id} params={route.params} isAdmin={isAdmin} />
      </main>
    </div>
  );
}

function Page(props: { page: string; id: string | null; params: URLSearchParams; isAdmin: boolean }) {
  switch (props.page) {
    case "overview":
      return <Overview />;
    case "explorer":
      return <Explorer params={props.params} />;
    case "devices":
      return props.id ? <DeviceDetail deviceId={props.id} /> : <Devices />;
    case "tail":
      return <Tail />;
    case "alerts":
      return <Alerts />;
    case "keys":
      return props.isAdmin ? <Keys /> : <NoAccess />;
    case "audit":
      return props.isAdmin ? <Audit /> : <NoAccess />;
    default:
      return (
        <p className="text-sm">
          No page {props.page}. <a className="underline" href="#/overview">Overview</a>
        </p>
      );
  }
}

function NoAccess() {
  return <p className="text-sm">This view needs an admin key. Sign out and sign in with one.</p>;
}
