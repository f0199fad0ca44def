/**
 * Live subscriptions over SSE through `app.request()` (the WebSocket path is
 * covered by tests/stream-ws.test.ts against real processes): the default
 * event feed, filters, channels, resume without gap or duplicate, slow
 * subscribers, caps and errors.
 */
import { describe, expect, it } from "vitest";
import { type SseFrame as Frame, takeSseFrames } from "../testing/live-fixture.ts";
import { type AppFixture, FakeClock, TEST_KEY, withApp } from "../testing/with-app.ts";

const T = Date.parse("2026-11-22T12:00:00.000Z");
/** Queues of 150 messages (commits are at most 100 events here, so one commit never overflows one). */
const SMALL_QUEUES = {
  LIVE_QUEUE_LIMIT: "150",
  COMMIT_MAX_BATCH_EVENTS: "100",
  MAX_EVENTS_PER_REQUEST: "100",
};

/** Reads SSE frames from a response body as they arrive. */
function sseReader(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const frames: Frame[] = [];
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const taken = takeSseFrames(buffer + value);
      buffer = taken.rest;
      frames.push(...taken.frames);
    }
  })().catch(() => {});
  return {
    frames,
    /** Waits until `n` frames matching `pred` arrived (or 3 s passed). */
    async until(n: number, pred: (f: Frame) => boolean = () => true): Promise<Frame[]> {
      const deadline = Date.now() + 3000;
      while (frames.filter(pred).length < n && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      return frames.filter(pred);
    },
    async close() {
      await reader.cancel().catch(() => {});
      await pump;
    },
  };
}

async function post(f: AppFixture, events: unknown[]) {
  const res = await f.request("/v1/events", { method: "POST", body: JSON.stringify(events) });
  expect(res.status).toBe(202);
}

const ev = (id: string, deviceId = "a", extra: Record<string, unknown> = {}) => ({
  id,
  deviceId,
  eventType: "temp",
  value: 1,
  timestamp: T,
  ...extra,
});

describe("GET /v1/stream/sse", () => {
  it("sends every accepted event as JSON with its seq as the SSE id, and no duplicates", async () => {
    await withApp(async (f) => {
      const res = await f.request("/v1/stream/sse");
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/event-stream");
      const sse = sseReader(res);
      await post(f, [ev("e1"), ev("e2", "b"), ev("e1")]);
      const frames = await sse.until(2);
      expect(frames.map((fr) => fr.event)).toEqual(["event", "event"]);
      const [first, second] = frames.map((fr) => fr.data as Record<string, unknown>);
      expect(first).toMatchObject({ id: "e1", deviceId: "a", eventType: "temp", value: 1 });
      expect(second).toMatchObject({ id: "e2", deviceId: "b" });
      expect(frames.map((fr) => Number(fr.id))).toEqual([first.seq, second.seq]);
      await sse.close();
    }, { clock: new FakeClock(T) });
  });

  it("filters by device, type and metadata", async () => {
    await withApp(async (f) => {
      const sse = sseReader(await f.request("/v1/stream/sse?deviceId=a&eventType=temp&metadata.site=north"));
      await post(f, [
        ev("x1", "a", { metadata: { site: "north" } }),
        ev("x2", "b", { metadata: { site: "north" } }),
        ev("x3", "a", { metadata: { site: "south" } }),
        ev("x4", "a", { eventType: "door", metadata: { site: "north" } }),
        ev("x5", "a", { metadata: { site: "north" } }),
      ]);
      const frames = await sse.until(2);
      await new Promise((r) => setTimeout(r, 50));
      expect(sse.frames.map((fr) => (fr.data as { id: string }).id)).toEqual(["x1", "x5"]);
      expect(frames).toHaveLength(2);
      await sse.close();
    }, { clock: new FakeClock(T) });
  });

  it("streams live aggregates and system stats on their channels", async () => {
    const clock = new FakeClock(T);
    await withApp(async (f) => {
      const sse = sseReader(await f.request("/v1/stream/sse?channels=aggregates,stats&eventType=temp"));
      await post(f, [ev("w1"), ev("w2", "b")]);
      f.server.stream!.tick();
      const windows = await sse.until(1, (fr) => fr.event === "window");
      const overall = windows.map((w) => w.data as Record<string, unknown>).find((w) =>
        w.deviceId === null && w.resolution === 1000
      );
      expect(overall).toMatchObject({ kind: "window", final: false, eventType: "temp", start: T });
      expect((overall!.values as Record<string, number>).count).toBe(2);
      const stats = await sse.until(1, (fr) => fr.event === "stats");
      expect(stats[0].data).toMatchObject({ type: "stats", subscribers: 1 });
      expect(sse.frames.some((fr) => fr.event === "event")).toBe(false);
      await sse.close();
    }, { clock });
  });

  it("resumes from Last-Event-ID with no gap and no duplicate", async () => {
    await withApp(async (f) => {
      const first = sseReader(await f.request("/v1/stream/sse"));
      await post(f, [ev("r1"), ev("r2")]);
      const seen = await first.until(2);
      await first.close();
      const lastId = seen[1].id!;
      await post(f, [ev("r3"), ev("r4")]); // missed while disconnected
      const again = sseReader(await f.request("/v1/stream/sse", { headers: { "last-event-id": lastId } }));
      await again.until(2);
      await post(f, [ev("r5")]); // live after the replay
      const frames = await again.until(3);
      expect(frames.map((fr) => (fr.data as { id: string }).id)).toEqual(["r3", "r4", "r5"]);
      const seqs = frames.map((fr) => Number(fr.id));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(seqs[0]).toBeGreaterThan(Number(lastId));
      await again.close();
    }, { clock: new FakeClock(T) });
  });

  it("tells a subscriber that cannot keep up that it lagged, without delaying a fast one", async () => {
    await withApp(async (f) => {
      const slow = await f.request("/v1/stream/sse"); // not read until the end
      const fast = sseReader(await f.request("/v1/stream/sse"));
      const started = performance.now();
      for (let b = 0; b < 3; b++) {
        await post(f, Array.from({ length: 100 }, (_, i) => ev(`s${b}-${i}`, `d${i}`)));
        await new Promise((r) => setTimeout(r, 40)); // a subscriber that keeps up drains meanwhile
      }
      const frames = await fast.until(300);
      const fastMs = performance.now() - started;
      expect(frames).toHaveLength(300);
      expect(frames.every((fr) => fr.event === "event")).toBe(true);
      expect(fastMs).toBeLessThan(3000);
      const lagging = sseReader(slow);
      const [lag] = await lagging.until(1, (fr) => fr.event === "lagged");
      const gap = lag.data as { type: string; missed: number; resumeAfterSeq: number };
      expect(gap.type).toBe("lagged");
      expect(gap.missed).toBeGreaterThan(0);
      expect(gap.resumeAfterSeq).toBeGreaterThan(Number(frames[0].id));
      expect(gap.resumeAfterSeq).toBeLessThanOrEqual(Number(frames[299].id));
      // Whatever it still gets after the gap is in order and never repeats an event.
      const ids = lagging.frames.filter((fr) => fr.event === "event").map((fr) => Number(fr.id));
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      await lagging.close();
      await fast.close();
    }, { clock: new FakeClock(T), env: SMALL_QUEUES });
  });

  it("disconnects a subscriber that keeps lagging, with the reason", async () => {
    await withApp(async (f) => {
      const slow = await f.request("/v1/stream/sse");
      for (let b = 0; b < 8; b++) {
        await post(f, Array.from({ length: 100 }, (_, i) => ev(`k${b}-${i}`, `d${i}`)));
      }
      const reader = sseReader(slow);
      const [closed] = await reader.until(1, (fr) => fr.event === "close");
      expect(closed.data).toEqual({ reason: "subscriber too slow" });
      expect(f.server.hub.size).toBe(0);
      await reader.close();
    }, { clock: new FakeClock(T), env: SMALL_QUEUES });
  });

  it("accepts the key as ?apiKey=, caps subscribers per key, and refuses bad parameters", async () => {
    await withApp(async (f) => {
      expect((await f.request("/v1/stream/sse", { key: null })).status).toBe(401);
      const a = await f.request(`/v1/stream/sse?apiKey=${TEST_KEY}`, { key: null });
      expect(a.status).toBe(200);
      const b = await f.request("/v1/stream/sse");
      expect(b.status).toBe(200);
      const c = await f.request("/v1/stream/sse");
      expect(c.status).toBe(429);
      expect(c.headers.get("retry-after")).toBe("5");
      await a.body!.cancel();
      await b.body!.cancel();
      for (
        const [query, field] of [["channels=video", "channels"], ["since=-1", "since"], [
          "deviceId=",
          "deviceId",
        ]]
      ) {
        const res = await f.request(`/v1/stream/sse?${query}`);
        expect(res.status).toBe(400);
        expect((await res.json()).errors[0].field).toBe(field);
      }
      const ws = await f.request("/v1/stream");
      expect(ws.status).toBe(400);
    }, { clock: new FakeClock(T), env: { LIVE_MAX_SUBSCRIBERS_PER_KEY: "2" } });
  });
});
