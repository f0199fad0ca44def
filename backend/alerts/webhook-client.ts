/**
 * The `WebhookClient` port: how delivery resolves a receiver's host and sends
 * one POST to an address it has checked. Resolution and connection are
 * runtime-specific (backend/adapters/webhook-client.ts); the checks are here,
 * so the address connected to is the address checked: a name that resolves
 * to a public address for the check and to 127.0.0.1 for the connection (DNS
 * rebinding) cannot happen, because the client never resolves again.
 */
import { type Network, parseIp, refusedAddress } from "./webhook-address.ts";

/** One request to send. */
export interface WebhookRequest {
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
}

/** Where to send it: the URL (its host name goes in `Host` and TLS SNI) and the checked address. */
export interface WebhookTarget {
  url: URL;
  /** An IP literal (no brackets) that every check passed. */
  address: string;
}

/** The runtime's resolver and HTTP client. */
export interface WebhookClient {
  /** Every address `hostname` (a name, not a literal) resolves to; rejects when it does not resolve. */
  resolve(hostname: string): Promise<string[]>;
  /**
   * POSTs to `target.address` (never resolving `target.url`'s host again), without following
   * redirects; resolves with the answer's status once its head arrived (the body is discarded);
   * rejects on network errors and when `request.signal` aborts (with its reason).
   */
  post(target: WebhookTarget, request: WebhookRequest): Promise<number>;
}

/** A target refused because of where its host points (the detail is for the log only). */
export class WebhookAddressError extends Error {}

/**
 * Resolves `url`'s host and checks every address (an IP literal is checked as it is): any
 * address in a denied range not opted back in by `allowed` refuses the whole host, so a
 * resolver answering with a public and a private address cannot pick the private one later.
 */
export async function resolveTarget(
  url: URL,
  client: Pick<WebhookClient, "resolve">,
  allowed: readonly Network[],
): Promise<WebhookTarget> {
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const addresses = parseIp(host) ? [host] : await client.resolve(host);
  if (addresses.length === 0) throw new WebhookAddressError(`${host} resolves to no address`);
  for (const address of addresses) {
    const refused = refusedAddress(address, allowed);
    if (refused) throw new WebhookAddressError(`${host} resolves to ${address}: ${refused}`);
  }
  return { url, address: addresses[0] };
}
