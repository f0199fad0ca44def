#!/usr/bin/env node
/**
 * Connection-level attacks against a real server process, with figures:
 *
 *   node bench/connection-attacks.mjs slow   [--runtime deno|node] [--sockets 500] [--max-seconds 45] [--root DIR]
 *   node bench/connection-attacks.mjs frames [--runtime deno|node] [--sockets 16] [--keys 1] [--mib 60] [--root DIR]
 *
 * `slow`: opens --sockets clients that trickle a header line every second,
 * --sockets that connect and send nothing, and --sockets that send one request
 * and then stay idle; prints how many of each the server still holds at 1, 2,
 * 5, 10, 20, 30 and 45 s (or until all are closed), while one client posts a
 * single event every 100 ms (202s and the slowest answer are printed).
 *
 * `frames`: opens --sockets ingest WebSockets over --keys keys and sends each one
 * text frame of --mib MiB at once; prints the server's RSS before and its peak
 * (VmRSS sampled every 50 ms) and what each socket got (upgrade refused with
 * 429/503, close code).
 *
 * The server is started from --root (default: this checkout) with a fresh
 * temporary database and default limits, and killed at the end; `--root` of
 * another checkout measures the code before a change. Everything stops by
 * itself.
 */
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { startCheckoutServer } from "./lib/checkout-server.mjs";

const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const KEY = "bench-conn-key-0123456789abcdef";
const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runtime: { type: "string", default: "deno" },
    sockets: { type: "string" },
    mib: { type: "string", default: "60" },
    keys: { type: "string", default: "1" },
    "max-seconds": { type: "string", default: "45" },
    root: { type: "string", default: HERE },
  },
});
const mode = positionals[0];
if (mode !== "slow" && mode !== "frames") {
  console.error("usage: node bench/connection-attacks.mjs slow|frames [options] (see the header)");
  process.exit(2);
}
const root = path.resolve(args.root);

function startServer() {
  return startCheckoutServer({ root, runtime: args.runtime, env: { BOOTSTRAP_API_KEY: KEY } });
}

function openSocket(port, onConnect) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    const held = { open: true };
    s.on("error", () => {});
    s.resume(); // read (and drop) what the server sends, so its FIN is seen
    s.on("close", () => (held.open = false));
    s.once("connect", () => {
      onConnect(s);
      resolve(held);
    });
  });
}

async function slow(server) {
  const n = Number(args.sockets ?? 500);
  const trickling = await Promise.all(Array.from({ length: n }, () =>
    openSocket(server.port, (s) => {
      s.write("POST /v1/events HTTP/1.1\r\nHost: x\r\n");
      const t = setInterval(
        () => (s.destroyed ? clearInterval(t) : s.write(`X-Pad: ${Date.now()}\r\n`)),
        1000,
      );
    })));
  const silent = await Promise.all(Array.from({ length: n }, () => openSocket(server.port, () => {})));
  const idle = await Promise.all(
    Array.from(
      { length: n },
      () => openSocket(server.port, (s) => s.write("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")),
    ),
  );
  const started = Date.now();
  let posted = 0;
  let accepted = 0;
  let slowest = 0;
  let stop = false;
  const poster = (async () => {
    while (!stop) {
      const t0 = Date.now();
      posted++;
      try {
        const res = await fetch(`${server.url}/v1/events`, {
          method: "POST",
          headers: { "x-api-key": KEY, "content-type": "application/json" },
          body: JSON.stringify({ deviceId: "bench", eventType: "t", value: posted }),
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status === 202) accepted++;
        await res.arrayBuffer();
      } catch { /* counted as not accepted */ }
      slowest = Math.max(slowest, Date.now() - t0);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const count = (list) => list.filter((h) => h.open).length;
  console.log(
    `runtime ${args.runtime}, root ${root}: ${n} trickling, ${n} silent, ${n} idle-after-response sockets`,
  );
  console.log("  t(s)  trickling  silent  idle");
  for (const t of [1, 2, 5, 10, 20, 30, 45, 60, 75].filter((x) => x <= Number(args["max-seconds"]))) {
    await new Promise((r) => setTimeout(r, Math.max(0, started + t * 1000 - Date.now())));
    const row = [count(trickling), count(silent), count(idle)];
    console.log(
      `  ${String(t).padStart(4)}  ${String(row[0]).padStart(9)}  ${String(row[1]).padStart(6)}  ${
        String(row[2]).padStart(4)
      }`,
    );
    if (row.every((x) => x === 0)) break;
  }
  stop = true;
  await poster;
  console.log(`  single events during the attack: ${accepted}/${posted} answered 202, slowest ${slowest} ms`);
}

async function frames(server) {
  const n = Number(args.sockets ?? 16);
  const bytes = Number(args.mib) * 1024 * 1024;
  const url = `${server.url.replace("http", "ws")}/v1/ingest`;
  const payload = JSON.stringify({ seq: 1, events: [{ deviceId: "x", eventType: "t", data: { pad: "" } }] });
  const frame = payload.replace('"pad":""', `"pad":"${"x".repeat(bytes - payload.length)}"`);
  const keys = [KEY];
  for (let i = 1; i < Number(args.keys); i++) {
    const res = await fetch(`${server.url}/v1/admin/keys`, {
      method: "POST",
      headers: { "x-api-key": KEY, "content-type": "application/json" },
      body: JSON.stringify({ name: `attacker-${i}`, scopes: ["ingest"] }),
    });
    keys.push((await res.json()).data.key);
  }
  const before = server.rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, server.rss())), 50);
  const outcomes = await Promise.all(Array.from({ length: n }, (_, i) =>
    new Promise((resolve) => {
      const ws = new WebSocket(url, { headers: { "x-api-key": keys[i % keys.length] } });
      ws.on("error", () => {});
      ws.once("unexpected-response", (_req, res) => resolve(`upgrade ${res.statusCode}`));
      ws.once("open", () => ws.send(frame));
      ws.once("close", (code) => resolve(`close ${code}`));
      ws.once("message", (data) => {
        resolve(`answered ${JSON.parse(String(data)).status}, left open`);
        ws.terminate();
      });
      setTimeout(() => {
        ws.terminate();
        resolve("no answer in 60 s");
      }, 60_000);
    })));
  await new Promise((r) => setTimeout(r, 1000));
  clearInterval(sampler);
  const tally = {};
  for (const o of outcomes) tally[o] = (tally[o] ?? 0) + 1;
  const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;
  console.log(
    `runtime ${args.runtime}, root ${root}: ${n} ingest WebSockets over ${keys.length} key(s) x one ${args.mib} MiB frame`,
  );
  console.log(
    `  RSS before ${mb(before)}, peak ${mb(peak)} (+${mb(peak - before)}), after ${mb(server.rss())}`,
  );
  console.log(`  outcomes: ${JSON.stringify(tally)}`);
}

const server = await startServer();
try {
  await (mode === "slow" ? slow(server) : frames(server));
} finally {
  await server.stop();
  process.exit(0);
}
