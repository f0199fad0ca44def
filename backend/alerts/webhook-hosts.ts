/**
 * The webhook host allow-list (`ALERTS_WEBHOOK_ALLOWED_HOSTS`): which hosts
 * receivers may point at. Entries are `host`, `host:port`, `*.suffix` or
 * `*.suffix:port`, comma-separated. A name is compared in the canonical form
 * the URL parser gives it (lower case, IDNs as punycode, IPv4 in dotted
 * decimal, IPv6 in brackets); `*.example.com` matches every name below
 * `example.com`, not `example.com` itself; an entry without a port allows every
 * port. The list names hosts as written in the URL: it does not resolve names,
 * so a name that resolves to an internal address is allowed if listed.
 */

import { type Network, refusedLiteral } from "./webhook-address.ts";

/** One entry; `port` null: any port. */
export interface HostPattern {
  host: string;
  /** `*.host`: names ending in `.host`. */
  wildcard: boolean;
  port: number | null;
}

/** The parsed list, or null when unset (every host allowed). */
export type HostAllowList = readonly HostPattern[] | null;

/** Parses the comma list; returns the entries, or the message of the first bad one. */
export function parseAllowedHosts(text: string): HostPattern[] | { error: string } {
  const out: HostPattern[] = [];
  for (const raw of text.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const wildcard = entry.startsWith("*.");
    const rest = wildcard ? entry.slice(2) : entry;
    let url: URL | null = null;
    try {
      url = /[/?#@\\\s*]/.test(rest) ? null : new URL(`http://${rest}`);
    } catch {
      url = null;
    }
    if (url === null || url.hostname === "") {
      return { error: `"${entry}" is not a host, host:port or *.domain entry` };
    }
    const explicitPort = /:(\d+)$/.exec(rest);
    const port = explicitPort ? Number(explicitPort[1]) : null;
    if (port !== null && (port < 1 || port > 65535)) {
      return { error: `"${entry}" has a port outside 1-65535` };
    }
    if (wildcard && url.hostname.startsWith("[")) {
      return { error: `"${entry}": a wildcard needs a domain name, not an address` };
    }
    out.push({ host: url.hostname, wildcard, port });
  }
  if (out.length === 0) return { error: "lists no host" };
  return out;
}

const DEFAULT_PORTS: Record<string, number> = { "http:": 80, "https:": 443 };

/** Whether `url` may be called under `list` (null: any host). */
export function hostAllowed(url: URL, list: HostAllowList): boolean {
  if (list === null) return true;
  const port = url.port === "" ? DEFAULT_PORTS[url.protocol] : Number(url.port);
  return list.some((p) =>
    (p.port === null || p.port === port) &&
    (p.wildcard ? url.hostname.endsWith(`.${p.host}`) : url.hostname === p.host)
  );
}

/**
 * What is wrong with a receiver URL, or null: it must be absolute http(s) without credentials, its
 * host in `hosts` (when set), and not an IP literal in a denied range outside `networks` (a name is
 * checked after resolution, at delivery).
 */
export function receiverUrlProblem(
  url: string,
  hosts: HostAllowList,
  networks: readonly Network[],
): string | null {
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    return "url must be an absolute http:// or https:// URL";
  }
  if (parsed.username || parsed.password) return "url must not carry credentials";
  if (!hostAllowed(parsed, hosts)) return `url host ${parsed.host} is not in ALERTS_WEBHOOK_ALLOWED_HOSTS`;
  const refused = refusedLiteral(parsed, networks);
  return refused &&
    `url host ${parsed.hostname} is not allowed (${refused}, not in ALERTS_WEBHOOK_ALLOWED_NETWORKS)`;
}
