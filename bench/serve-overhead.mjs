#!/usr/bin/env node
/**
 * Server CPU per request of the HTTP entry, for comparing two checkouts (e.g.
 * the guarded Deno server against plain `Deno.serve`) on a shared machine
 * where requests/s swing with the neighbours' load:
 *
 *   node bench/serve-overhead.mjs --root-a DIR --root-b DIR [--rounds 3] [--requests 20000] [--runtime deno|node]
 *
 * For each round and each checkout (alternating A, B), starts the server with
 * a fresh database, sends --requests `GET /livez` and then --requests
 * single-event `POST /v1/events` over 32 keep-alive connections (autocannon),
 * and reads the server process's own user+system CPU time (/proc/<pid>/stat)
 * around each. Prints CPU µs per request and requests/s per run, and the
 * medians per checkout. Stops by itself.
 */
import autocannon from "autocannon";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { startCheckoutServer } from "./lib/checkout-server.mjs";

const KEY = "bench-overhead-key-0123456789abc";
const { values: args } = parseArgs({
  options: {
    "root-a": { type: "string" },
    "root-b": { type: "string" },
    rounds: { type: "string", default: "3" },
    requests: { type: "string", default: "20000" },
    runtime: { type: "string", default: "deno" },
  },
});
if (!args["root-a"] || !args["root-b"]) {
  console.error(
    "usage: node bench/serve-overhead.mjs --root-a DIR --root-b DIR [--rounds 3] [--requests 20000]",
  );
  process.exit(2);
}
const TICK = 100; // clock ticks per second of /proc/<pid>/stat on Linux

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICK; // utime + stime
}

async function measure(root) {
  const server = await startCheckoutServer({
    root,
    runtime: args.runtime,
    env: { BOOTSTRAP_API_KEY: KEY, RATE_LIMIT_EVENTS_PER_SEC: "1000000000", RATE_LIMIT_BURST: "1000000000" },
  });
  const url = server.url;
  const out = {};
  const amount = Number(args.requests);
  for (
    const [name, opts] of [
      ["livez", { url: `${url}/livez` }],
      ["single", {
        url: `${url}/v1/events`,
        method: "POST",
        headers: { "x-api-key": KEY, "content-type": "application/json" },
        body: JSON.stringify({ deviceId: "overhead", eventType: "t", value: 1 }),
      }],
    ]
  ) {
    const cpu0 = cpuSeconds(server.pid);
    const r = await autocannon({ ...opts, connections: 32, amount });
    const cpu = cpuSeconds(server.pid) - cpu0;
    out[name] = {
      cpuUsPerReq: (cpu * 1e6) / r.requests.total,
      reqPerSec: r.requests.average,
      non2xx: r.non2xx,
    };
  }
  await server.stop();
  return out;
}

const results = { a: [], b: [] };
for (let round = 0; round < Number(args.rounds); round++) {
  for (const side of ["a", "b"]) {
    const r = await measure(path.resolve(args[`root-${side}`]));
    results[side].push(r);
    console.log(
      `round ${round + 1} ${side}: livez ${r.livez.cpuUsPerReq.toFixed(1)} µs CPU/req ${
        r.livez.reqPerSec.toFixed(0)
      } req/s; ` +
        `single event ${r.single.cpuUsPerReq.toFixed(1)} µs CPU/req ${r.single.reqPerSec.toFixed(0)} req/s` +
        (r.livez.non2xx + r.single.non2xx ? ` (non-2xx: ${r.livez.non2xx + r.single.non2xx})` : ""),
    );
  }
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
for (const side of ["a", "b"]) {
  const rs = results[side];
  console.log(
    `median ${side} (${args[`root-${side}`]}): livez ${
      median(rs.map((r) => r.livez.cpuUsPerReq)).toFixed(1)
    } µs CPU/req, ` +
      `${median(rs.map((r) => r.livez.reqPerSec)).toFixed(0)} req/s; single event ${
        median(rs.map((r) => r.single.cpuUsPerReq)).toFixed(1)
      } µs CPU/req, ${median(rs.map((r) => r.single.reqPerSec)).toFixed(0)} req/s`,
  );
}
process.exit(0);
