/**
 * `/v1/metrics` through `app.request()` on a real SQLite file: every
 * parameter, fill mode, resolution choice and error, on a small fixture whose
 * answers are worked out by hand.
 */
import { describe, expect, it } from "vitest";
import { type AppFixture, FakeClock, withApp } from "../testing/with-app.ts";

const T = Date.parse("2026-11-22T12:00:00.000Z");
const S = 1000;
const M = 60_000;
const H = 3_600_000;

// temp: a@10s=10, a@20s=20, a@70s=30, a@3h=40, b@15s=5, b@65s=-5, c@30s=100 (tagged); door: a@5s (no value)
const FIXTURE = [
  { id: "a1", deviceId: "a", eventType: "temp", value: 10, timestamp: T + 10 * S },
  { id: "a2", deviceId: "a", eventType: "temp", value: 20, timestamp: T + 20 * S },
  { id: "a3", deviceId: "a", eventType: "temp", value: 30, timestamp: T + 70 * S },
  { id: "a4", deviceId: "a", eventType: "temp", value: 40, timestamp: T + 3 * H },
  { id: "b1", deviceId: "b", eventType: "temp", value: 5, timestamp: T + 15 * S },
  { id: "b2", deviceId: "b", eventType: "temp", value: -5, timestamp: T + 65 * S },
  {
    id: "c1",
    deviceId: "c",
    eventType: "temp",
    value: 100,
    timestamp: T + 30 * S,
    metadata: { site: "north", floor: 2, ok: true },
  },
  { id: "d1", deviceId: "a", eventType: "door", timestamp: T + 5 * S },
];

async function withFixture(
  fn: (f: AppFixture) => Promise<void>,
  flush = true,
  env: Record<string, string> = {},
) {
  const clock = new FakeClock(T + 3 * H + M);
  await withApp(async (f) => {
    const res = await f.request("/v1/events", { method: "POST", body: JSON.stringify(FIXTURE) });
    expect(res.status).toBe(202);
    f.server.stream!.tick();
    if (flush) await f.server.stream!.flush();
    await fn(f);
  }, { clock, env });
}

async function metrics(f: AppFixture, query: string) {
  const res = await f.request(`/v1/metrics${query}`);
  return { status: res.status, body: await res.json() };
}

const range = (from: number, to: number) => `from=${from}&to=${to}`;

describe("GET /v1/metrics", () => {
  it.each([true, false])(
    "answers count/sum/avg/min/max/last per minute from rollups (flushed: %s)",
    async (flush) => {
      await withFixture(async (f) => {
        const { status, body } = await metrics(
          f,
          `?eventType=temp&${range(T, T + 3 * M)}&step=1m&agg=count,sum,avg,min,max,last`,
        );
        expect(status).toBe(200);
        expect(body).toEqual({
          eventType: "temp",
          from: new Date(T).toISOString(),
          to: new Date(T + 3 * M).toISOString(),
          step: M,
          window: M,
          source: "rollup:60000",
          aggregates: ["count", "sum", "avg", "min", "max", "last"],
          fill: "null",
          timestamps: [T, T + M, T + 2 * M],
          series: [{
            deviceId: null,
            values: {
              count: [4, 2, null],
              sum: [135, 25, null],
              avg: [33.75, 12.5, null],
              min: [5, -5, null],
              max: [100, 30, null],
              last: [100, 30, null],
            },
          }],
          truncated: false,
        });
      }, flush);
    },
  );

  it("sees events ingested after an earlier answer (cached columns follow every flush)", async () => {
    await withFixture(async (f) => {
      const q = `?eventType=temp&${range(T, T + 2 * M)}&step=1m&agg=count,max,last`;
      expect((await metrics(f, q)).body.series[0].values.count).toEqual([4, 2]);
      const more = [{ deviceId: "b", eventType: "temp", value: 500, timestamp: T + 59 * S }];
      expect((await f.request("/v1/events", { method: "POST", body: JSON.stringify(more) })).status).toBe(
        202,
      );
      expect((await metrics(f, q)).body.series[0].values).toEqual({
        count: [5, 2],
        max: [500, 30],
        last: [500, 30],
      });
      await f.server.stream!.flush();
      expect((await metrics(f, q)).body.series[0].values).toEqual({
        count: [5, 2],
        max: [500, 30],
        last: [500, 30],
      });
    });
  });

  it("fills empty steps with null, zero or the previous value", async () => {
    await withFixture(async (f) => {
      const q = `?eventType=temp&${range(T, T + 4 * M)}&step=1m&agg=count,max`;
      expect((await metrics(f, q)).body.series[0].values.max).toEqual([100, 30, null, null]);
      expect((await metrics(f, `${q}&fill=zero`)).body.series[0].values).toEqual({
        count: [4, 2, 0, 0],
        max: [100, 30, 0, 0],
      });
      expect((await metrics(f, `${q}&fill=previous`)).body.series[0].values.max).toEqual([100, 30, 30, 30]);
    });
  });

  it("groups by device, or merges the listed devices with an exact distinct count", async () => {
    await withFixture(async (f) => {
      const grouped = await metrics(
        f,
        `?eventType=temp&${range(T, T + 2 * M)}&step=1m&agg=count,avg&groupBy=deviceId`,
      );
      expect(grouped.body.series).toEqual([
        { deviceId: "a", values: { count: [2, 1], avg: [15, 30] } },
        { deviceId: "b", values: { count: [1, 1], avg: [5, -5] } },
        { deviceId: "c", values: { count: [1, null], avg: [100, null] } },
      ]);
      const limited = await metrics(
        f,
        `?eventType=temp&${range(T, T + 2 * M)}&step=1m&groupBy=deviceId&limit=2`,
      );
      expect(limited.body.series.map((s: { deviceId: string }) => s.deviceId)).toEqual(["a", "b"]);
      expect(limited.body.truncated).toBe(true);
      const merged = await metrics(
        f,
        `?eventType=temp&deviceId=a&deviceId=b&${range(T, T + 2 * M)}&step=1m&agg=count,distinct,sum`,
      );
      expect(merged.body.series).toEqual([{
        deviceId: null,
        values: { count: [3, 2], distinct: [2, 2], sum: [35, 25] },
      }]);
      const one = await metrics(f, `?eventType=temp&deviceId=c&${range(T, T + M)}&step=1m&agg=avg`);
      expect(one.body.series).toEqual([{ deviceId: "c", values: { avg: [100] } }]);
    });
  });

  it("reads hourly rollups for an hourly step, and counts distinct devices over all devices", async () => {
    await withFixture(async (f) => {
      const { body } = await metrics(
        f,
        `?eventType=temp&${range(T, T + 4 * H)}&step=1h&agg=count,distinct,max`,
      );
      expect(body.source).toBe("rollup:3600000");
      expect(body.timestamps).toEqual([T, T + H, T + 2 * H, T + 3 * H]);
      expect(body.series[0].values).toEqual({
        count: [6, null, null, 1],
        distinct: [3, null, null, 1],
        max: [100, null, null, 40],
      });
    });
  });

  it("reads raw events for steps under a minute and for metadata filters", async () => {
    await withFixture(async (f) => {
      const fine = await metrics(f, `?eventType=temp&${range(T, T + 2 * M)}&step=30s&agg=count`);
      expect(fine.body.source).toBe("raw");
      expect(fine.body.series[0].values.count).toEqual([3, 1, 2, null]);
      for (const filter of ["metadata.site=north", "metadata.floor=2", "metadata.ok=true"]) {
        const tagged = await metrics(
          f,
          `?eventType=temp&${range(T, T + 2 * M)}&step=1m&agg=count,avg&${filter}`,
        );
        expect(tagged.body.source).toBe("raw");
        expect(tagged.body.series[0].values).toEqual({ count: [1, null], avg: [100, null] });
      }
      const none = await metrics(
        f,
        `?eventType=temp&${range(T, T + 2 * M)}&step=1m&agg=count&metadata.site=south`,
      );
      expect(none.body.series[0].values.count).toEqual([null, null]);
    });
  });

  it("gives quantiles within the sketch's 1% and hopping windows over several steps", async () => {
    await withFixture(async (f) => {
      const q = await metrics(f, `?eventType=temp&${range(T, T + M)}&step=1m&agg=p50,p90,p99`);
      // values 5, 10, 20, 100: ranks floor(q·3) → p50 = 10, p90 = 20, p99 = 20
      const v = q.body.series[0].values;
      expect(Math.abs(v.p50[0] - 10)).toBeLessThanOrEqual(0.1);
      expect(Math.abs(v.p90[0] - 20)).toBeLessThanOrEqual(0.2);
      expect(Math.abs(v.p99[0] - 20)).toBeLessThanOrEqual(0.2);
      const hopping = await metrics(
        f,
        `?eventType=temp&${range(T, T + 3 * M)}&step=1m&window=2m&agg=count,min`,
      );
      expect(hopping.body.window).toBe(2 * M);
      // the point at T covers [T - 1m, T + 1m), at T + 1m [T, T + 2m), at T + 2m [T + 1m, T + 3m)
      expect(hopping.body.series[0].values).toEqual({ count: [4, 6, 2], min: [5, -5, -5] });
    });
  });

  it("accepts ISO-8601 and now-relative times and picks a step when none is given", async () => {
    await withFixture(async (f) => {
      const iso = await metrics(
        f,
        `?eventType=temp&from=${new Date(T).toISOString()}&to=${
          new Date(T + 2 * M).toISOString()
        }&step=60000&agg=count`,
      );
      expect(iso.body.series[0].values.count).toEqual([4, 2]);
      // now is T + 3h + 1m; `to` is exclusive: now-2m..now is the two minutes before now
      const rel = await metrics(f, "?eventType=temp&from=now-2m&to=now&step=1m&agg=count,last");
      expect(rel.body.timestamps).toEqual([T + 3 * H - M, T + 3 * H]);
      expect(rel.body.series[0].values).toEqual({ count: [null, 1], last: [null, 40] });
      const auto = await metrics(f, "?eventType=temp&agg=count");
      expect(auto.body.step).toBe(30 * S); // the default range is the last hour: 120 points of 30 s
      expect(auto.body.timestamps).toHaveLength(120);
    });
  });

  it.each([
    ["", "eventType"],
    ["?eventType=temp&agg=median", "agg"],
    ["?eventType=temp&from=now&to=now-1h", "from"],
    ["?eventType=temp&from=yesterday", "from"],
    ["?eventType=temp&from=now-1d&step=1s", "step"],
    ["?eventType=temp&step=1500ms", "step"],
    ["?eventType=temp&fill=linear", "fill"],
    ["?eventType=temp&groupBy=eventType", "groupBy"],
    ["?eventType=temp&step=1m&window=90s", "window"],
    ["?eventType=temp&limit=0", "limit"],
    ["?eventType=temp&metadata.bad%20key=1", "metadata.bad key"],
    ["?eventType=temp&step=1s&window=2000s", "window"],
    ["?eventType=temp&from=now-9000d&step=1439m", "from"],
    ["?eventType=temp&to=9000000000000000", "to"],
    [`?eventType=temp&${Array.from({ length: 21 }, (_, i) => `metadata.k${i}=1`).join("&")}`, "metadata"],
  ])("rejects %s with a 400 naming %s", async (query, field) => {
    await withFixture(async (f) => {
      const { status, body } = await metrics(f, query);
      expect(status).toBe(400);
      expect(body.status).toBe("error");
      expect(body.errors.map((e: { field: string }) => e.field)).toContain(field);
    });
  });

  it("refuses a raw query over more events than the cap", async () => {
    await withFixture(
      async (f) => {
        const many = Array.from(
          { length: 1001 },
          (_, i) => ({ deviceId: "x", eventType: "burst", timestamp: T + i }),
        );
        expect((await f.request("/v1/events", { method: "POST", body: JSON.stringify(many) })).status).toBe(
          202,
        );
        const { status, body } = await metrics(f, `?eventType=burst&${range(T, T + M)}&step=1s`);
        expect(status).toBe(400);
        expect(body.errors[0].field).toBe("step");
        expect(body.errors[0].message).toContain("more than 1000 events");
      },
      true,
      { METRICS_MAX_RAW_EVENTS: "1000" },
    );
  });

  it("needs a key with the read scope", async () => {
    await withFixture(async (f) => {
      expect((await f.request("/v1/metrics?eventType=temp", { key: null })).status).toBe(401);
      const created = await f.request("/v1/admin/keys", {
        method: "POST",
        body: JSON.stringify({ name: "writer", scopes: ["ingest"] }),
      });
      const { data } = await created.json();
      expect((await f.request("/v1/metrics?eventType=temp", { key: data.key })).status).toBe(403);
    });
  });
});

describe("GET /v1/metrics/types, /latest, /top, /sessions", () => {
  it("lists event types with counts, devices and last-seen time", async () => {
    await withFixture(async (f) => {
      const res = await f.request("/v1/metrics/types");
      expect(await res.json()).toEqual({
        data: [
          {
            eventType: "door",
            count: 1,
            devices: 1,
            firstSeen: new Date(T + 5 * S).toISOString(),
            lastSeen: new Date(T + 5 * S).toISOString(),
          },
          {
            eventType: "temp",
            count: 7,
            devices: 3,
            firstSeen: new Date(T + 10 * S).toISOString(),
            lastSeen: new Date(T + 3 * H).toISOString(),
          },
        ],
      });
    }, false);
  });

  it("gives the latest value per device", async () => {
    await withFixture(async (f) => {
      const res = await f.request("/v1/metrics/latest?eventType=temp");
      expect((await res.json()).data).toEqual([
        {
          deviceId: "a",
          lastValue: 40,
          lastValueAt: new Date(T + 3 * H).toISOString(),
          lastSeen: new Date(T + 3 * H).toISOString(),
          count: 4,
        },
        {
          deviceId: "b",
          lastValue: -5,
          lastValueAt: new Date(T + 65 * S).toISOString(),
          lastSeen: new Date(T + 65 * S).toISOString(),
          count: 2,
        },
        {
          deviceId: "c",
          lastValue: 100,
          lastValueAt: new Date(T + 30 * S).toISOString(),
          lastSeen: new Date(T + 30 * S).toISOString(),
          count: 1,
        },
      ]);
      const one = await f.request("/v1/metrics/latest?eventType=temp&deviceId=b");
      expect((await one.json()).data.map((d: { deviceId: string }) => d.deviceId)).toEqual(["b"]);
    });
  });

  it("ranks the top devices by an aggregate over a range", async () => {
    await withFixture(async (f) => {
      const desc =
        await (await f.request(`/v1/metrics/top?eventType=temp&agg=max&${range(T, T + 4 * H)}&n=2`)).json();
      expect(desc.data).toEqual([{ deviceId: "c", value: 100 }, { deviceId: "a", value: 40 }]);
      const asc =
        await (await f.request(`/v1/metrics/top?eventType=temp&agg=avg&${range(T, T + 2 * M)}&order=asc`))
          .json();
      expect(asc.data).toEqual([{ deviceId: "b", value: 0 }, { deviceId: "a", value: 20 }, {
        deviceId: "c",
        value: 100,
      }]);
      const bad = await f.request("/v1/metrics/top?eventType=temp&agg=avg,max");
      expect(bad.status).toBe(400);
    });
  });

  it("splits a device's events into sessions at gaps of at least `gap`", async () => {
    await withFixture(async (f) => {
      const hourly = await (await f.request(
        `/v1/metrics/sessions?eventType=temp&deviceId=a&gap=1h&${range(T, T + 4 * H)}&agg=count,max`,
      )).json();
      expect(hourly.source).toBe("rollup:3600000");
      expect(hourly.data).toEqual([{
        deviceId: "a",
        sessions: [
          {
            start: new Date(T + 10 * S).toISOString(),
            end: new Date(T + 70 * S).toISOString(),
            count: 3,
            max: 30,
          },
          {
            start: new Date(T + 3 * H).toISOString(),
            end: new Date(T + 3 * H).toISOString(),
            count: 1,
            max: 40,
          },
        ],
      }]);
      const fine = await (await f.request(
        `/v1/metrics/sessions?eventType=temp&deviceId=a&gap=30s&${range(T, T + 4 * H)}`,
      ))
        .json();
      expect(fine.source).toBe("raw");
      expect(fine.data[0].sessions.map((s: { count: number }) => s.count)).toEqual([2, 1, 1]);
    });
  });
});
