/**
 * Live-stream clients for the black-box tests: raw sockets that subscribe and
 * then stop reading (the attack), and a reading SSE client that parses frames.
 */
import { connect, type Socket } from "node:net";
import { type SseFrame, takeSseFrames } from "../backend/testing/live-fixture.ts";

/** A subscriber on a raw socket that stops reading once its response started. */
export interface StalledClient {
  socket: Socket;
  /** The status line of the answer ("HTTP/1.1 200 OK", "HTTP/1.1 101 Switching Protocols"). */
  status: string;
  /**
   * Resumes reading; resolves when the server ended the subscription — the connection closed, or
   * (WebSocket) a close frame arrived, which a real client answers by closing — with the bytes
   * received after resuming and the close frame's code and reason.
   */
  drain(timeoutMs: number): Promise<Drained>;
}

export interface Drained {
  closed: boolean;
  bytes: number;
  tail: string;
  /** The WebSocket close frame's code and reason, when one arrived. */
  closeFrame: { code: number; reason: string } | null;
}

/** Finds the first close frame (opcode 8) in server-to-client WebSocket frames starting at `at`. */
function findCloseFrame(buf: Buffer, at: number): { next: number; close: Drained["closeFrame"] } {
  while (at + 2 <= buf.length) {
    const opcode = buf[at] & 0x0f;
    let len = buf[at + 1] & 0x7f;
    let head = 2;
    if (len === 126) {
      if (at + 4 > buf.length) break;
      len = buf.readUInt16BE(at + 2);
      head = 4;
    } else if (len === 127) {
      if (at + 10 > buf.length) break;
      len = Number(buf.readBigUInt64BE(at + 2));
      head = 10;
    }
    if (at + head + len > buf.length) break;
    if (opcode === 8) {
      const payload = buf.subarray(at + head, at + head + len);
      return {
        next: at,
        close: { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString("utf8") },
      };
    }
    at += head + len;
  }
  return { next: at, close: null };
}

/** Opens `/v1/stream/sse` or a `/v1/stream` WebSocket on a raw socket and stops reading. */
export function stalledClient(
  port: number,
  kind: "sse" | "ws",
  key: string,
): Promise<StalledClient> {
  const path = kind === "sse" ? "/v1/stream/sse" : "/v1/stream";
  const upgrade = kind === "ws"
    ? "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    : "";
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: ${key}\r\n${upgrade}\r\n`);
    });
    socket.once("error", reject);
    socket.once("data", (first: Buffer) => {
      socket.pause(); // from here on, this client reads nothing
      socket.off("error", reject);
      socket.on("error", () => {}); // a reset by the server is one way to be closed
      const status = first.toString("latin1").split("\r\n")[0];
      let closed = false;
      socket.once("close", () => (closed = true));
      resolve({
        socket,
        status,
        drain(timeoutMs) {
          let bytes = 0;
          let tail = "";
          // WebSocket frames start after the 101 answer's headers.
          let frames = kind === "ws" ? first.subarray(first.indexOf("\r\n\r\n") + 4) : Buffer.alloc(0);
          let at = 0;
          let closeFrame: Drained["closeFrame"] = null;
          return new Promise((done) => {
            const finish = (ended: boolean) => {
              clearTimeout(timer);
              socket.removeAllListeners("data");
              if (kind === "ws") socket.destroy(); // a client answers a close frame by closing
              done({ closed: ended, bytes, tail, closeFrame });
            };
            const look = () => {
              if (kind !== "ws") return;
              const found = findCloseFrame(frames, at);
              at = found.next;
              if (found.close) {
                closeFrame = found.close;
                finish(true);
              }
            };
            socket.on("data", (d: Buffer) => {
              bytes += d.length;
              tail = (tail + d.toString("latin1")).slice(-2000);
              if (kind === "ws") {
                frames = Buffer.concat([frames.subarray(at), d]);
                at = 0;
                look();
              }
            });
            const timer = setTimeout(() => finish(false), closed ? 0 : timeoutMs);
            if (closed) return finish(true);
            look();
            socket.once("close", () => finish(true));
            socket.resume();
          });
        },
      });
    });
  });
}

/** Reads `/v1/stream/sse` with fetch, parsing frames as they arrive. */
export async function sseClient(url: string, key: string) {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { "x-api-key": key }, signal: controller.signal });
  const frames: SseFrame[] = [];
  let ended = false;
  const pump = (async () => {
    if (!res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const taken = takeSseFrames(buffer + value);
      buffer = taken.rest;
      frames.push(...taken.frames);
    }
  })().catch(() => {}).finally(() => (ended = true));
  return {
    status: res.status,
    headers: res.headers,
    frames,
    get ended() {
      return ended;
    },
    ended_: pump,
    close() {
      controller.abort();
      return pump;
    },
  };
}

/** Server sockets on `port` in state ESTABLISHED (Linux /proc/net/tcp): connections the server holds. */
export async function establishedOn(port: number): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  let count = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await readFile(file, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 3 && cols[1].endsWith(`:${hex}`) && cols[3] === "01") count++;
    }
  }
  return count;
}

/** Peak resident set size of a process, MiB (VmHWM). */
export async function peakRssMiB(pid: number): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}
