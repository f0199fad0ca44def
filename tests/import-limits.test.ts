/**
 * Bounds of bulk imports against the real server under Deno and Node (whose
 * own 300 s request timeout is off now, so only these bounds end an import): a key that trickles
 * imports holds one slot, not all of them (its second import 429, other keys
 * still import), the server-wide cap answers 503, and an import that
 * outlives IMPORT_MAX_DURATION_MS or uploads slower than
 * IMPORT_MIN_BYTES_PER_SEC ends with 408 while the batches it committed stay
 * stored and its job says how many.
 */
import { type ClientRequest, request as httpRequest } from "node:http";
import { describe, expect, it } from "vitest";
import type { Runtime, ServerProcess } from "./server-process.ts";
import { countStored, withServer as withServerOn } from "./server-scope.ts";

const ADMIN = "import-limits-admin-0123456789ab";

interface Upload {
  req: ClientRequest;
  /** Status, headers and body of the answer (which may come while the upload is still open). */
  answer: Promise<{ status: number; retryAfter?: string; body: Record<string, unknown> }>;
  write(text: string): void;
  /** Writes `chunk` every `everyMs` until the answer arrives. */
  trickle(chunk: string, everyMs: number): void;
}

function upload(server: ServerProcess, key: string, importId: string): Upload {
  const req = httpRequest(`${server.url}/v1/import`, {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/x-ndjson", "import-id": importId },
  });
  req.on("error", () => {}); // the server may close while we still write
  let answered = false;
  const answer = new Promise<{ status: number; retryAfter?: string; body: Record<string, unknown> }>(
    (res) => {
      req.on("response", (r) => {
        answered = true;
        let text = "";
        r.on("data", (d) => (text += d));
        r.on("end", () =>
          res({
            status: r.statusCode!,
            retryAfter: r.headers["retry-after"] as string | undefined,
            body: JSON.parse(text),
          }));
      });
    },
  );
  req.flushHeaders();
  return {
    req,
    answer,
    write: (text) => req.write(text),
    trickle(chunk, everyMs) {
      const timer = setInterval(() => {
        if (answered || req.destroyed) clearInterval(timer);
        else req.write(chunk);
      }, everyMs);
    },
  };
}

/** A valid import id (`imp_` + 32 hex digits) named after `name`. */
const importId = (name: string) => `imp_${Buffer.from(name).toString("hex").padEnd(32, "0").slice(0, 32)}`;

const lines = (prefix: string, n: number) =>
  Array.from(
    { length: n },
    (_, i) => JSON.stringify({ id: `${prefix}-${i}`, deviceId: "imp", eventType: "t", value: i }),
  )
    .join("\n") + "\n";

async function createKey(server: ServerProcess, name: string): Promise<string> {
  const res = await fetch(`${server.url}/v1/admin/keys`, {
    method: "POST",
    headers: { "x-api-key": ADMIN, "content-type": "application/json" },
    body: JSON.stringify({ name, scopes: ["ingest", "read"] }),
  });
  return (await res.json()).data.key;
}

async function job(server: ServerProcess, id: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}/v1/import/${id}`, { headers: { "x-api-key": ADMIN } });
  return (await res.json()).data;
}

function storedCount(server: ServerProcess, prefix: string, n: number): Promise<number> {
  return countStored(server, ADMIN, Array.from({ length: n }, (_, i) => `${prefix}-${i}`));
}

describe.each(["deno", "node"] as Runtime[])("import bounds (%s)", (runtime) => {
  const withServer = (env: Record<string, string>, fn: (s: ServerProcess) => Promise<void>) =>
    withServerOn(runtime, { key: ADMIN, env }, fn);

  it("gives each key its own slots: a trickling key gets 429 for a second import, others import", async () => {
    await withServer({ IMPORT_MAX_RUNNING: "2", IMPORT_MAX_RUNNING_PER_KEY: "1" }, async (s) => {
      const [a, b, c] = [await createKey(s, "a"), await createKey(s, "b"), await createKey(s, "c")];
      const slow = upload(s, a, importId("slow_a"));
      slow.write(lines("slow-a", 3));
      slow.trickle(" ", 200); // whitespace between lines: valid, and keeps the idle timer happy
      await new Promise((r) => setTimeout(r, 300));
      const second = upload(s, a, importId("second_a"));
      second.req.end(lines("second-a", 2));
      expect(await second.answer).toMatchObject({
        status: 429,
        retryAfter: "5",
        body: { status: "error", errors: [{ field: "import" }] },
      });
      const other = upload(s, b, importId("other_b"));
      other.req.end(lines("other-b", 50));
      expect(await other.answer).toMatchObject({
        status: 201,
        body: { data: { state: "completed", accepted: 50, lines: 50 } },
      });
      const slowB = upload(s, b, importId("slow_b"));
      slowB.write(lines("slow-b", 1));
      slowB.trickle(" ", 200);
      await new Promise((r) => setTimeout(r, 300));
      const third = upload(s, c, importId("third_c"));
      third.req.end(lines("third-c", 2));
      expect(await third.answer).toMatchObject({ status: 503, retryAfter: "5" });
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).toMatch(/^pulsestream_imports_running 2$/m);
      expect(await storedCount(s, "other-b", 50)).toBe(50);
      expect(await storedCount(s, "second-a", 2)).toBe(0);
      slow.req.destroy();
      slowB.req.destroy();
    });
  });

  it("ends an import at IMPORT_MAX_DURATION_MS with 408, keeping and reporting what it committed", async () => {
    await withServer(
      { IMPORT_MAX_DURATION_MS: "3000", IMPORT_MIN_BYTES_PER_SEC: "0", MAX_EVENTS_PER_REQUEST: "100" },
      async (s) => {
        const up = upload(s, ADMIN, importId("deadline"));
        up.write(lines("dl", 250)); // two full batches of 100 commit; 50 wait for more
        up.trickle(" ", 300);
        const started = Date.now();
        const answer = await up.answer;
        const took = Date.now() - started;
        expect(answer.status).toBe(408);
        expect(String(answer.body.message)).toMatch(
          /^Import did not finish within 3000 ms \(IMPORT_MAX_DURATION_MS\); the 200 events committed before the deadline \(200 accepted, 0 duplicates, 200 lines read\) stay stored/,
        );
        expect(took).toBeGreaterThanOrEqual(2500);
        expect(took).toBeLessThan(3000 + 3000);
        expect(await job(s, importId("deadline"))).toMatchObject({
          state: "failed",
          accepted: 200,
          duplicates: 0,
        });
        expect(String((await job(s, importId("deadline"))).failure)).toMatch(/IMPORT_MAX_DURATION_MS/);
        expect(await storedCount(s, "dl", 200)).toBe(200);
        expect(await storedCount(s, "dl", 250)).toBe(200); // the unfinished batch was not stored
        expect(s.stderr()).toContain(`"msg":"import failed","id":"${importId("deadline")}"`);
      },
    );
  });

  it("ends an import whose upload is slower than IMPORT_MIN_BYTES_PER_SEC with 408", async () => {
    await withServer({ IMPORT_MIN_BYTES_PER_SEC: "2000", MAX_EVENTS_PER_REQUEST: "100" }, async (s) => {
      const up = upload(s, ADMIN, importId("slowrate"));
      up.write(lines("sr", 100)); // one full batch (~7 KB) commits
      up.trickle(" ", 250); // then 4 bytes/s: under 2,000 bytes/s over the first 10 s
      const answer = await up.answer;
      expect(answer.status).toBe(408);
      expect(String(answer.body.message)).toMatch(
        /^Import body arrived at \d+ bytes\/s over 10 s, below the minimum of 2000 bytes\/s \(IMPORT_MIN_BYTES_PER_SEC\)$/,
      );
      expect(await job(s, importId("slowrate"))).toMatchObject({ state: "failed", accepted: 100 });
      expect(await storedCount(s, "sr", 100)).toBe(100);
    });
  });
});
