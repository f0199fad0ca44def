import { describe, expect, it } from "vitest";
import { AlertCatalog } from "./catalog.ts";
import type { Matcher, Silence } from "./model.ts";

const T = 1_000_000;
const eq = (name: string, value: string): Matcher => ({ name, value, isRegex: false, isEqual: true });
const re = (name: string, value: string, isEqual = true): Matcher => ({
  name,
  value,
  isRegex: true,
  isEqual,
});
const silence = (id: string, matchers: Matcher[], startsAt = T - 10, endsAt = T + 1000): Silence => ({
  id,
  matchers,
  startsAt,
  endsAt,
  comment: "",
  createdBy: "test",
});

/** Labels that count how often matching reads them. */
function counted(labels: Record<string, string>) {
  const reads = { n: 0 };
  const proxy = new Proxy(labels, {
    get(target, key) {
      reads.n++;
      return Reflect.get(target, key);
    },
  });
  return { labels: proxy, reads };
}

describe("AlertCatalog.silencedBy", () => {
  it("answers as matching every active silence in order would, and matches a label set once", () => {
    const c = new AlertCatalog();
    const ops = counted({ alertname: "HighTemp", team: "ops", deviceId: "s-1" });
    const dev = { alertname: "HighTemp", team: "dev", deviceId: "s-2" };
    c.putSilence(silence("sil_a", [eq("alertname", "HighTemp"), re("team", "op.|infra")]));
    c.putSilence(silence("sil_b", [re("deviceId", "s-\\d+"), re("team", "ops", false)]));
    c.putSilence(silence("sil_c", [eq("team", "ops")]));
    expect(c.silencedBy(ops.labels, T)?.id).toBe("sil_a");
    expect(c.silencedBy(dev, T)?.id).toBe("sil_b");
    expect(c.silencedBy({ alertname: "Other", deviceId: "x" }, T)).toBeNull();
    const first = ops.reads.n;
    expect(first).toBeGreaterThan(0);
    for (let i = 0; i < 100; i++) expect(c.silencedBy(ops.labels, T + i)?.id).toBe("sil_a");
    expect(ops.reads.n).toBe(first);
  });

  it("is invalidated when a silence is created, expired or replaced", () => {
    const c = new AlertCatalog();
    const labels = { alertname: "HighTemp", team: "ops" };
    expect(c.silencedBy(labels, T)).toBeNull();
    const a = silence("sil_a", [re("team", "o.*")]);
    c.putSilence(a);
    expect(c.silencedBy(labels, T)?.id).toBe("sil_a");
    // A second matching silence does not take over: the first added still answers.
    c.putSilence(silence("sil_b", [eq("alertname", "HighTemp")]));
    expect(c.silencedBy(labels, T)?.id).toBe("sil_a");
    // DELETE expires a silence now: the next one answers, then none.
    c.putSilence({ ...a, endsAt: T });
    expect(c.silencedBy(labels, T)?.id).toBe("sil_b");
    c.putSilence(silence("sil_b", [eq("alertname", "Other")]));
    expect(c.silencedBy(labels, T)).toBeNull();
  });

  it("follows time: a silence applies from its start until its end, whatever the calls' order", () => {
    const c = new AlertCatalog();
    const labels = { alertname: "HighTemp" };
    c.putSilence(silence("sil_later", [eq("alertname", "HighTemp")], T + 50, T + 100));
    const at = (t: number) => c.silencedBy(labels, t)?.id ?? null;
    expect([T, T + 49, T + 50, T + 99, T + 100, T + 60, T + 10, T + 75, T + 500]
      .map(at)).toEqual([null, null, "sil_later", "sil_later", null, "sil_later", null, "sil_later", null]);
  });
});
