import { describe, expect, it } from "vitest";
import { systemClock } from "../clock.ts";
import { KeyConcurrencyError, OverloadedError } from "../errors.ts";
import { createLogger } from "../logger.ts";
import { withApp } from "../testing/with-app.ts";
import { CLOSE_KEY_REFUSED, IngestSockets } from "./ingest-ws-sockets.ts";

function capture() {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: createLogger("debug", { sink: (line) => lines.push(JSON.parse(line)) }) };
}

describe("IngestSockets", () => {
  it("refuses a key's socket over its cap with 429 and any socket over the total with 503", async () => {
    await withApp(({ server }) => {
      const { lines, logger } = capture();
      const sockets = new IngestSockets({
        store: server.store,
        clock: systemClock,
        logger,
        limits: { maxConnections: 3, maxConnectionsPerKey: 2 },
      });
      const a1 = sockets.reserve("key-a");
      sockets.reserve("key-a");
      const perKey = (() => {
        try {
          sockets.reserve("key-a");
        } catch (error) {
          return error;
        }
      })();
      expect(perKey).toBeInstanceOf(KeyConcurrencyError);
      expect(perKey).toMatchObject({ status: 429, retryAfterSeconds: 1, errors: [{ field: "connection" }] });
      const b1 = sockets.reserve("key-b");
      expect(() => sockets.reserve("key-c")).toThrow(OverloadedError);
      expect(sockets.size).toBe(3);
      sockets.release(a1);
      sockets.release(a1); // idempotent
      expect(sockets.size).toBe(2);
      sockets.reserve("key-c"); // the freed slot is usable
      expect(lines.map((l) => [l.msg, l.reason])).toEqual([
        ["websocket ingest refused", "per-key cap"],
        ["websocket ingest refused", "total cap"],
      ]);
      expect(sockets.closeKey("key-b", 4000, "test")).toBe(1);
      expect(sockets.size).toBe(2);
      void b1;
      for (const key of ["key-a", "key-c"]) sockets.closeKey(key, 4000, "test");
      expect(sockets.size).toBe(0);
      return Promise.resolve();
    });
  });

  it("closes the sockets of a key revoked in the store with 4401 and its reason", async () => {
    await withApp(async ({ server, request }) => {
      const created = await request("/v1/admin/keys", {
        method: "POST",
        body: JSON.stringify({ name: "ws", scopes: ["ingest"] }),
      });
      const { id } = (await created.json()).data;
      const { lines, logger } = capture();
      const sockets = new IngestSockets(
        {
          store: server.store,
          clock: systemClock,
          logger,
          limits: { maxConnections: 8, maxConnectionsPerKey: 2 },
        },
        20,
      );
      const closed: [string, number, string][] = [];
      const mine = [sockets.reserve(id), sockets.reserve(id)];
      mine.forEach((slot, i) => (slot.close = (code, reason) => closed.push([`s${i}`, code, reason])));
      const other = sockets.reserve("another-key-that-does-not-exist");
      other.close = (code, reason) => closed.push(["other", code, reason]);
      await new Promise((r) => setTimeout(r, 100));
      // An unknown key is refused like a revoked one; the active key's sockets stay.
      expect(closed).toEqual([["other", CLOSE_KEY_REFUSED, "Invalid API key"]]);
      expect((await request(`/v1/admin/keys/${id}`, { method: "DELETE" })).status).toBeLessThan(300);
      const deadline = Date.now() + 1000;
      while (closed.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(closed.slice(1)).toEqual([
        ["s0", CLOSE_KEY_REFUSED, "API key has been revoked"],
        ["s1", CLOSE_KEY_REFUSED, "API key has been revoked"],
      ]);
      expect(sockets.size).toBe(0);
      expect(lines.filter((l) => l.msg === "websocket ingest closed").map((l) => [l.reason, l.sockets]))
        .toEqual([
          ["Invalid API key", 1],
          ["API key has been revoked", 2],
        ]);
    });
  });
});
