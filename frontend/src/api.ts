/**
 * The dashboard's HTTP client: every call sends the session's key in
 * `x-api-key`, parses PulseStream's envelope and throws `ApiError` with the
 * server's message and field errors, so pages can show them.
 */

const KEY_STORAGE = "pulsestream.key";

export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly errors: FieldError[] = []) {
    super(message);
  }
}

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(KEY_STORAGE);
  else sessionStorage.setItem(KEY_STORAGE, key);
}

/** Fired on `window` when the server refuses the session's key (revoked or expired): the shell signs out. */
export const KEY_REFUSED = "pulsestream:key-refused";

/** The session's key was answered 401: forget it and tell the shell. */
export function keyRefused(message: string): void {
  storeKey(null);
  dispatchEvent(new CustomEvent(KEY_REFUSED, { detail: message }));
}

export interface Whoami {
  keyId: string;
  name: string;
  scopes: string[];
}

/** Calls the API; `path` starts with `/`. Unwraps `{status:"success",data}` bodies. */
export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; key?: string | null; signal?: AbortSignal } = {},
): Promise<T> {
  const key = init.key === undefined ? storedKey() : init.key;
  const headers: Record<string, string> = {};
  if (key) headers["x-api-key"] = key;
  if (init.body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? "GET",
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal,
    });
  } catch (error) {
    if ((error as Error).name === "AbortError") throw error;
    throw new ApiError(0, `The server did not answer (${(error as Error).message})`);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: reported below
  }
  if (!res.ok) {
    const b = body as { message?: string; errors?: FieldError[] } | null;
    if (res.status === 401 && init.key === undefined && key) keyRefused(b?.message ?? "The key was refused");
    throw new ApiError(res.status, b?.message ?? `HTTP ${res.status}`, b?.errors ?? []);
  }
  const b = body as { status?: string; data?: unknown } | null;
  return (b && b.status === "success" && "data" in b ? b.data : body) as T;
}

/** Builds a query string from a record; arrays repeat the parameter, empty values are left out. */
export function query(
  params: Record<string, string | number | readonly string[] | undefined | null>,
): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) { for (const x of v) q.append(k, x); }
    else q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
    return `${error.message}${fields ? ` (${fields})` : ""}${error.status ? ` [HTTP ${error.status}]` : ""}`;
  }
  return error instanceof Error ? error.message : String(error);
}
