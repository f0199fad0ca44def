import { describe, expect, it } from "vitest";
import {
  deniedKind,
  type Network,
  parseIp,
  parseNetworks,
  refusedAddress,
  refusedLiteral,
} from "./webhook-address.ts";
import { resolveTarget, WebhookAddressError } from "./webhook-client.ts";

const kind = (text: string) => deniedKind(parseIp(text)!);
const networks = (text: string) => parseNetworks(text) as Network[];

describe("webhook addresses", () => {
  it("names the range of every denied address, and passes public ones", () => {
    const cases: [string, string | null][] = [
      ["127.0.0.1", "loopback"],
      ["127.255.255.254", "loopback"],
      ["10.1.2.3", "private"],
      ["172.16.0.1", "private"],
      ["172.31.255.255", "private"],
      ["192.168.1.1", "private"],
      ["100.64.0.1", "shared (CGNAT)"],
      ["100.127.255.255", "shared (CGNAT)"],
      ["169.254.169.254", "link-local"],
      ["0.0.0.0", "unspecified"],
      ["224.0.0.1", "multicast"],
      ["255.255.255.255", "reserved"],
      ["::1", "loopback"],
      ["::", "unspecified"],
      ["fc00::1", "private"],
      ["fd12:3456::1", "private"],
      ["fe80::1", "link-local"],
      ["ff02::1", "multicast"],
      ["::ffff:127.0.0.1", "loopback (IPv4 in IPv6)"],
      ["::ffff:7f00:1", "loopback (IPv4 in IPv6)"],
      ["::ffff:a9fe:a9fe", "link-local (IPv4 in IPv6)"],
      ["::127.0.0.1", "loopback (IPv4 in IPv6)"],
      ["64:ff9b::10.0.0.1", "private (IPv4 in IPv6)"],
      ["2002:7f00:1::", "loopback (IPv4 in IPv6)"],
      ["8.8.8.8", null],
      ["172.32.0.1", null],
      ["100.128.0.1", null],
      ["2606:4700::1111", null],
      ["::ffff:8.8.8.8", null],
    ];
    expect(cases.map(([a]) => [a, kind(a)])).toEqual(cases);
  });

  it("refuses at creation every spelling of a denied literal the URL parser accepts, and no name", () => {
    const refused = (url: string) => refusedLiteral(new URL(url), []);
    const forms: [string, string | null][] = [
      ["http://127.0.0.1/", "loopback address"],
      ["http://2130706433/", "loopback address"],
      ["http://0x7f.1/", "loopback address"],
      ["http://0177.0.0.1/", "loopback address"],
      ["http://0x7f000001:8080/", "loopback address"],
      ["http://127.1/", "loopback address"],
      ["http://[::1]/", "loopback address"],
      ["http://[::ffff:127.0.0.1]/", "loopback (IPv4 in IPv6) address"],
      ["http://[0:0:0:0:0:ffff:7f00:1]/", "loopback (IPv4 in IPv6) address"],
      ["http://169.254.169.254/latest/meta-data", "link-local address"],
      ["https://10.0.0.5:8443/", "private address"],
      ["https://100.100.100.200/", "shared (CGNAT) address"],
      ["http://0.0.0.0/", "unspecified address"],
      ["http://[::]/", "unspecified address"],
      ["http://224.0.0.1/", "multicast address"],
      ["http://[fd00::1]/", "private address"],
      ["https://hooks.example.com/", null],
      ["http://localhost/", null], // a name: checked after resolution, at delivery
      ["https://93.184.215.14/", null],
    ];
    expect(forms.map(([u]) => [u, refused(u)])).toEqual(forms);
  });

  it("opts networks back in: CIDRs and bare addresses; a mapped address matches IPv4 networks", () => {
    expect(parseNetworks("127.0.0.1, 10.0.0.0/8 ,fd00::/8")).toEqual([
      { bytes: Uint8Array.from([127, 0, 0, 1]), prefix: 32 },
      { bytes: Uint8Array.from([10, 0, 0, 0]), prefix: 8 },
      { bytes: Uint8Array.from([0xfd, ...Array(15).fill(0)]), prefix: 8 },
    ]);
    const allowed = networks("127.0.0.1,10.0.0.0/8");
    expect(refusedAddress("127.0.0.1", allowed)).toBeNull();
    expect(refusedAddress("127.0.0.2", allowed)).toBe("loopback address");
    expect(refusedAddress("10.200.0.1", allowed)).toBeNull();
    expect(refusedAddress("::ffff:10.200.0.1", allowed)).toBeNull();
    expect(refusedAddress("192.168.0.1", allowed)).toBe("private address");
    expect(refusedAddress("::1", allowed)).toBe("loopback address");
    for (
      const bad of ["", ",", "10.0.0.0/33", "::/129", "example.com", "10.0.0.0/8/1", "1.2.3/8", "10.0.0.0/x"]
    ) {
      expect([bad, "error" in (parseNetworks(bad) as object)]).toEqual([bad, true]);
    }
  });

  it("resolves a name and refuses it when any address is denied, before connecting", async () => {
    const resolver = (answers: Record<string, string[]>) => ({
      resolve: (host: string) => Promise.resolve(answers[host] ?? []),
    });
    const dns = resolver({
      "hooks.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
      "rebind.test": ["93.184.215.14", "127.0.0.1"],
      "inside.test": ["10.0.0.7"],
      "nothing.test": [],
    });
    await expect(resolveTarget(new URL("https://hooks.example.com/x"), dns, [])).resolves.toEqual({
      url: new URL("https://hooks.example.com/x"),
      address: "93.184.215.14",
    });
    const refused = async (url: string, allowed: Network[] = []) => {
      const e = await resolveTarget(new URL(url), dns, allowed).catch((e) => e);
      return e instanceof WebhookAddressError ? e.message : e;
    };
    expect(await refused("http://rebind.test/")).toBe("rebind.test resolves to 127.0.0.1: loopback address");
    expect(await refused("http://inside.test/")).toBe("inside.test resolves to 10.0.0.7: private address");
    expect(await refused("http://nothing.test/")).toBe("nothing.test resolves to no address");
    // Literals are not resolved.
    expect(await refused("http://[::ffff:7f00:1]:9/")).toBe(
      "::ffff:7f00:1 resolves to ::ffff:7f00:1: " +
        "loopback (IPv4 in IPv6) address",
    );
    await expect(resolveTarget(new URL("http://inside.test:8080/"), dns, networks("10.0.0.0/24")))
      .resolves.toMatchObject({ address: "10.0.0.7" });
    await expect(resolveTarget(new URL("http://[::1]:8080/"), dns, networks("::1")))
      .resolves.toMatchObject({ address: "::1" });
  });
});
