import { describe, expect, it } from "vitest";
import { createLogger } from "../logger.ts";
import { ConnectionCloseLog, refusedConnectionResponse } from "./connection-limits.ts";

describe("refusedConnectionResponse", () => {
  it("is a complete HTTP/1.1 503 with Retry-After, Connection: close and the error envelope", () => {
    const text = new TextDecoder().decode(refusedConnectionResponse(40, 2));
    const [head, body] = text.split("\r\n\r\n");
    expect(head.split("\r\n")).toEqual([
      "HTTP/1.1 503 Service Unavailable",
      "Content-Type: application/json",
      `Content-Length: ${new TextEncoder().encode(body).byteLength}`,
      "Retry-After: 2",
      "Connection: close",
    ]);
    expect(JSON.parse(body)).toEqual({
      status: "error",
      message: "The server holds 40 connections (MAX_CONNECTIONS); retry later",
      errors: [{ field: "connection", message: "too many connections" }],
    });
  });
});

describe("ConnectionCloseLog", () => {
  it("logs the first close of a reason at once and the rest of its interval in one line", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger("debug", { sink: (line) => lines.push(JSON.parse(line)) });
    const log = new ConnectionCloseLog(logger, { maxConnections: 10 }, 50);
    for (let i = 0; i < 500; i++) log.note("header_timeout");
    log.note("refused");
    log.note("idle");
    const pick = () => lines.map(({ level, msg, reason, count }) => ({ level, msg, reason, count }));
    expect(pick()).toEqual([
      { level: "warn", msg: "connections closed", reason: "header_timeout", count: 1 },
      { level: "warn", msg: "connections closed", reason: "refused", count: 1 },
      { level: "debug", msg: "connection closed", reason: "idle", count: undefined },
    ]);
    await new Promise((r) => setTimeout(r, 80));
    expect(pick()[3]).toEqual({
      level: "warn",
      msg: "connections closed",
      reason: "header_timeout",
      count: 499,
    });
    expect(lines[3]).toMatchObject({ withinMs: 50, maxConnections: 10 });
    expect(lines).toHaveLength(4); // nothing more for "refused", whose interval had no second close
    expect(Object.fromEntries(log.totals)).toEqual({ header_timeout: 500, refused: 1, idle: 1 });
    log.stop();
  });
});
