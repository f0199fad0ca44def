import { describe, expect, it } from "vitest";
import { hostAllowed, parseAllowedHosts } from "./webhook-hosts.ts";

const list = (text: string) => {
  const parsed = parseAllowedHosts(text);
  if (!Array.isArray(parsed)) throw new Error(parsed.error);
  return parsed;
};
const allowed = (text: string, url: string) => hostAllowed(new URL(url), list(text));

describe("webhook host allow-list", () => {
  it("parses hosts, host:port, *.domain and IP literals into canonical names", () => {
    expect(list(" Hooks.Example.com , *.ops.example.com:8443,127.0.0.1:9000,[::1],")).toEqual([
      { host: "hooks.example.com", wildcard: false, port: null },
      { host: "ops.example.com", wildcard: true, port: 8443 },
      { host: "127.0.0.1", wildcard: false, port: 9000 },
      { host: "[::1]", wildcard: false, port: null },
    ]);
  });

  it("refuses entries that are not hosts", () => {
    expect(parseAllowedHosts("ok.example.com,http://x.example.com")).toEqual({
      error: '"http://x.example.com" is not a host, host:port or *.domain entry',
    });
    expect(parseAllowedHosts("a.example.com/path")).toEqual({
      error: '"a.example.com/path" is not a host, host:port or *.domain entry',
    });
    expect(parseAllowedHosts("*.*.example.com")).toEqual({
      error: '"*.*.example.com" is not a host, host:port or *.domain entry',
    });
    expect(parseAllowedHosts("user@example.com")).toEqual({
      error: '"user@example.com" is not a host, host:port or *.domain entry',
    });
    expect(parseAllowedHosts("example.com:0")).toEqual({
      error: '"example.com:0" has a port outside 1-65535',
    });
    expect(parseAllowedHosts("*.[::1]")).toEqual({
      error: '"*.[::1]": a wildcard needs a domain name, not an address',
    });
    expect(parseAllowedHosts(" , ")).toEqual({ error: "lists no host" });
  });

  it("matches exact names on any port, ports exactly (default ports included), wildcards below the domain", () => {
    expect(allowed("hooks.example.com", "https://HOOKS.example.com/x?y")).toBe(true);
    expect(allowed("hooks.example.com", "http://hooks.example.com:9999/")).toBe(true);
    expect(allowed("hooks.example.com", "https://evil-hooks.example.com/")).toBe(false);
    expect(allowed("hooks.example.com", "https://hooks.example.com.evil.test/")).toBe(false);
    expect(allowed("hooks.example.com:443", "https://hooks.example.com/")).toBe(true);
    expect(allowed("hooks.example.com:443", "http://hooks.example.com/")).toBe(false);
    expect(allowed("hooks.example.com:8080", "http://hooks.example.com:8080/")).toBe(true);
    expect(allowed("*.example.com", "https://a.b.example.com/")).toBe(true);
    expect(allowed("*.example.com", "https://example.com/")).toBe(false);
    expect(allowed("*.example.com", "https://badexample.com/")).toBe(false);
    expect(allowed("127.0.0.1:9000", "http://127.0.0.1:9000/")).toBe(true);
    expect(allowed("127.0.0.1:9000", "http://127.0.0.2:9000/")).toBe(false);
    expect(allowed("[::1]", "http://[0:0::1]:81/")).toBe(true);
    expect(hostAllowed(new URL("http://anything.test/"), null)).toBe(true);
  });
});
