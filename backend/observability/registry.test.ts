import { describe, expect, it } from "vitest";
import { escapeLabelValue, formatNumber } from "./exposition.ts";
import { MetricsRegistry } from "./registry.ts";

describe("MetricsRegistry exposition", () => {
  it("renders counters, gauges and histograms exactly, with escaped label values", async () => {
    const registry = new MetricsRegistry();
    const events = registry.counter({
      name: "demo_events_total",
      help: "Events by outcome.\nSecond line with a \\ backslash.",
      labelNames: ["outcome", "reason"],
    });
    events.labels("accepted", "").inc(3);
    events.labels("rejected", 'say "hi"\\now\nnext').inc();
    registry.gauge({ name: "demo_queue_events", help: "Queued events." }).labels().set(-2.5);
    const latency = registry.histogram({
      name: "demo_latency_seconds",
      help: "Latency.",
      labelNames: ["route"],
      buckets: [0.1, 1, 10],
    });
    const child = latency.labels("/a");
    for (const v of [0.05, 0.1, 0.5, 5, 50]) child.observe(v);
    latency.labels("/b");

    expect(await registry.render()).toBe(
      [
        "# HELP demo_events_total Events by outcome.\\nSecond line with a \\\\ backslash.",
        "# TYPE demo_events_total counter",
        'demo_events_total{outcome="accepted"} 3',
        'demo_events_total{outcome="rejected",reason="say \\"hi\\"\\\\now\\nnext"} 1',
        "# HELP demo_queue_events Queued events.",
        "# TYPE demo_queue_events gauge",
        "demo_queue_events -2.5",
        "# HELP demo_latency_seconds Latency.",
        "# TYPE demo_latency_seconds histogram",
        'demo_latency_seconds_bucket{route="/a",le="0.1"} 2',
        'demo_latency_seconds_bucket{route="/a",le="1"} 3',
        'demo_latency_seconds_bucket{route="/a",le="10"} 4',
        'demo_latency_seconds_bucket{route="/a",le="+Inf"} 5',
        'demo_latency_seconds_sum{route="/a"} 55.65',
        'demo_latency_seconds_count{route="/a"} 5',
        'demo_latency_seconds_bucket{route="/b",le="0.1"} 0',
        'demo_latency_seconds_bucket{route="/b",le="1"} 0',
        'demo_latency_seconds_bucket{route="/b",le="10"} 0',
        'demo_latency_seconds_bucket{route="/b",le="+Inf"} 0',
        'demo_latency_seconds_sum{route="/b"} 0',
        'demo_latency_seconds_count{route="/b"} 0',
        "",
      ].join("\n"),
    );
  });

  it("renders an unlabelled histogram without braces on _sum and _count", async () => {
    const registry = new MetricsRegistry();
    registry.histogram({ name: "h_seconds", help: "H.", buckets: [1] }).labels().observe(2);
    expect(await registry.render()).toBe(
      [
        "# HELP h_seconds H.",
        "# TYPE h_seconds histogram",
        'h_seconds_bucket{le="1"} 0',
        'h_seconds_bucket{le="+Inf"} 1',
        "h_seconds_sum 2",
        "h_seconds_count 1",
        "",
      ].join("\n"),
    );
  });

  it("resolves a label child once: the same object for the same values", () => {
    const registry = new MetricsRegistry();
    const c = registry.counter({ name: "c_total", help: "C.", labelNames: ["a"] });
    expect(c.labels("x")).toBe(c.labels("x"));
    expect(c.labels("x")).not.toBe(c.labels("y"));
    expect(() => c.labels()).toThrow(/takes 1 label values/);
  });

  it("appends collected families after instruments and reports bad or failing collectors", async () => {
    const errors: string[] = [];
    const registry = new MetricsRegistry({ onError: (m, e) => errors.push(e ? `${m}: ${e}` : m) });
    registry.counter({ name: "a_total", help: "A." }).labels().inc(2);
    registry.collect(() => [
      { name: "b_info", help: "B.", type: "gauge", samples: [{ labels: { version: "1.0" }, value: 1 }] },
      { name: "a_total", help: "dup", type: "counter", samples: [{ value: 9 }] },
      { name: "bad-name", help: "x", type: "gauge", samples: [] },
    ]);
    registry.collect(() => {
      throw new Error("boom");
    });
    registry.collect(() =>
      Promise.resolve([{
        name: "c_seconds",
        help: "C.",
        type: "histogram",
        samples: [{ buckets: [[0.5, 1]], sum: 0.25, count: 1 }],
      }])
    );
    expect(await registry.render()).toBe(
      [
        "# HELP a_total A.",
        "# TYPE a_total counter",
        "a_total 2",
        "# HELP b_info B.",
        "# TYPE b_info gauge",
        'b_info{version="1.0"} 1',
        "# HELP c_seconds C.",
        "# TYPE c_seconds histogram",
        'c_seconds_bucket{le="0.5"} 1',
        'c_seconds_bucket{le="+Inf"} 1',
        "c_seconds_sum 0.25",
        "c_seconds_count 1",
        "",
      ].join("\n"),
    );
    expect(errors).toEqual([
      "metrics collector failed: Error: boom",
      "metric family left out: duplicate metric name a_total",
      'metric family left out: invalid metric name "bad-name"',
    ]);
  });

  it("leaves out collected families that Prometheus would refuse, saying why", async () => {
    const errors: string[] = [];
    const registry = new MetricsRegistry({ onError: (m) => errors.push(m) });
    registry.histogram({ name: "lat_seconds", help: "L.", buckets: [1] });
    const h = (buckets: [number, number][], count: number) => ({
      name: "h_seconds",
      help: "H.",
      type: "histogram" as const,
      samples: [{ buckets, sum: 1, count }],
    });
    registry.collect(() => [
      { name: "jobs", help: "J.", type: "counter", samples: [{ value: 1 }] },
      { name: "lat_seconds_count", help: "clash", type: "gauge", samples: [{ value: 1 }] },
      {
        name: "dup",
        help: "D.",
        type: "gauge",
        samples: [{ labels: { a: "1", b: "2" }, value: 1 }, { labels: { b: "2", a: "1" }, value: 2 }],
      },
      h([[1, 1], [0.5, 2]], 2),
      h([[0.5, 2], [1, 1]], 2),
      h([[0.5, 1], [1, 3]], 2),
      h([[0.5, 1], [Infinity, 1]], 1),
      { name: "nan", help: "N.", type: "gauge", samples: [{ value: "1" as unknown as number }] },
      h([[0.5, 1], [1, 2]], 2), // valid: kept
      {
        name: "h_seconds_sum",
        help: "clash with the kept histogram",
        type: "gauge",
        samples: [{ value: 1 }],
      },
      {
        name: "ok_total",
        help: "O.",
        type: "counter",
        samples: [{ labels: { a: "" }, value: 1 }, { value: 2 }],
      },
    ]);
    const text = await registry.render();
    expect(text).toContain('h_seconds_bucket{le="1"} 2\n');
    expect(text).not.toContain("jobs");
    expect(text).not.toContain("dup");
    expect(text).not.toContain("ok_total"); // {a=""} and {} are the same series
    expect(errors).toEqual([
      "metric family left out: counter jobs must end in _total",
      "metric family left out: duplicate metric name lat_seconds_count",
      'metric family left out: duplicate series {a="1",b="2"} in dup',
      "metric family left out: bucket bounds must be finite and strictly ascending in h_seconds{}",
      "metric family left out: bucket counts must be cumulative (non-decreasing) in h_seconds{}",
      "metric family left out: count is below the last bucket's count in h_seconds{}",
      "metric family left out: bucket bounds must be finite and strictly ascending in h_seconds{}",
      "metric family left out: value is not a number in nan{}",
      "metric family left out: duplicate metric name h_seconds_sum",
      "metric family left out: duplicate series {} in ok_total",
    ]);
  });

  it("refuses an instrument whose series names clash with a histogram's", () => {
    const registry = new MetricsRegistry();
    registry.histogram({ name: "req_seconds", help: "R.", buckets: [1] });
    expect(() => registry.gauge({ name: "req_seconds_bucket", help: "x" })).toThrow(
      "metric req_seconds_bucket is already registered",
    );
    registry.gauge({ name: "size_count", help: "S." });
    expect(() => registry.histogram({ name: "size", help: "x", buckets: [1] })).toThrow(
      "metric size_count is already registered",
    );
  });

  it("removes a collector with the function collect() returned", async () => {
    const registry = new MetricsRegistry();
    const remove = registry.collect(
      () => [{ name: "x", help: "X.", type: "gauge", samples: [{ value: 1 }] }],
    );
    expect(await registry.render()).toContain("x 1\n");
    remove();
    expect(await registry.render()).toBe("");
  });

  it("refuses counters without _total, duplicate names, bad buckets and bad label names", () => {
    const registry = new MetricsRegistry();
    expect(() => registry.counter({ name: "requests", help: "" })).toThrow(/_total/);
    registry.gauge({ name: "g", help: "" });
    expect(() => registry.gauge({ name: "g", help: "" })).toThrow(/already registered/);
    expect(() => registry.histogram({ name: "h", help: "", buckets: [1, 1] })).toThrow(/ascending/);
    expect(() => registry.gauge({ name: "l", help: "", labelNames: ["bad-label"] })).toThrow(/label name/);
    expect(() => registry.histogram({ name: "hl", help: "", labelNames: ["le"], buckets: [1] })).toThrow(
      /le/,
    );
  });

  it("hands out no-ops and renders nothing when disabled", async () => {
    const registry = new MetricsRegistry({ enabled: false });
    const c = registry.counter({ name: "c_total", help: "C.", labelNames: ["a"] });
    c.labels("x").inc();
    registry.collect(() => [{ name: "x", help: "X.", type: "gauge", samples: [{ value: 1 }] }]);
    expect(await registry.render()).toBe("");
  });

  it("formats special floats and escapes label values like Prometheus", () => {
    expect([NaN, Infinity, -Infinity, 0.1, 1e21, -0].map(formatNumber)).toEqual([
      "NaN",
      "+Inf",
      "-Inf",
      "0.1",
      "1e+21",
      "0",
    ]);
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
  });
});
