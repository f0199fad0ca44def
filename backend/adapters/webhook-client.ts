/**
 * The webhook client of both runtimes (Deno runs `node:` modules too): names
 * resolve through the system resolver (`getaddrinfo`, so `/etc/hosts` and
 * `localhost` count, as for any other client on the host), and a POST
 * connects to the address delivery checked, by handing `node:http(s)` a
 * `lookup` that returns only that address. The URL's host name still goes in
 * `Host` and, for https, in SNI and the certificate check.
 */
import { lookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { WebhookClient } from "../alerts/webhook-client.ts";

export const nodeWebhookClient: WebhookClient = {
  async resolve(hostname) {
    return (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);
  },

  post(target, request) {
    const { url, address } = target;
    const family = address.includes(":") ? 6 : 4;
    const pinned: LookupFunction = (_host, options, callback) => {
      if (options.all) callback(null, [{ address, family }]);
      else callback(null, address, family);
    };
    const body = new TextEncoder().encode(request.body);
    const client = url.protocol === "https:" ? https : http;
    return new Promise<number>((resolve, reject) => {
      if (request.signal.aborted) return reject(request.signal.reason);
      const req = client.request({
        // A name (never resolved but through `pinned`), or the literal itself.
        host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
        port: url.port === "" ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method: "POST",
        headers: { ...request.headers, "content-length": String(body.byteLength), connection: "close" },
        lookup: pinned,
        agent: false,
      }, (res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
        res.on("error", () => {});
        res.on("end", () => req.destroy());
      });
      const abort = () => req.destroy(request.signal.reason);
      request.signal.addEventListener("abort", abort, { once: true });
      req.on("close", () => request.signal.removeEventListener("abort", abort));
      req.on("error", reject);
      req.end(body);
    });
  },
};
