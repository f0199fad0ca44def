/**
 * Hash routing: `#/<page>[/<id>]?<params>`. The server serves one page at `/`,
 * and every view's state is in the hash, so a URL can be shared or bookmarked.
 */
import { useEffect, useState } from "react";

export interface Route {
  page: string;
  id: string | null;
  params: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?", 2);
  const [page, ...rest] = path.split("/");
  return {
    page: page || "overview",
    id: rest.length ? decodeURIComponent(rest.join("/")) : null,
    params: new URLSearchParams(search),
  };
}

export function href(page: string, id?: string | null, params?: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return `#/${page}${id ? `/${encodeURIComponent(id)}` : ""}${s ? `?${s}` : ""}`;
}

/** Replaces the URL without a new history entry (for state that changes as one edits). */
export function replaceHash(hash: string): void {
  if (location.hash === hash) return;
  history.replaceState(null, "", hash);
  dispatchEvent(new HashChangeEvent("hashchange"));
}

/** Sets the URL as a new history entry (Back returns to the previous view: zooms, range changes). */
export function pushHash(hash: string): void {
  if (location.hash === hash) return;
  history.pushState(null, "", hash);
  dispatchEvent(new HashChangeEvent("hashchange"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}
