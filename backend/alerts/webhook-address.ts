/**
 * Which network addresses a webhook may be sent to. By default none that
 * reaches inside the server's own network: loopback, private (RFC 1918, ULA
 * `fc00::/7`), shared (CGNAT `100.64.0.0/10`), link-local (`169.254.0.0/16`,
 * where cloud metadata lives, and `fe80::/10`), unspecified, multicast,
 * broadcast and reserved ranges, and IPv6 forms that carry one of those IPv4
 * addresses (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64
 * `64:ff9b::/96`, 6to4 `2002::/16`). The URL parser already turns decimal,
 * hex and octal IPv4 forms (`2130706433`, `0x7f.1`, `0177.0.0.1`) into dotted
 * decimal. `ALERTS_WEBHOOK_ALLOWED_NETWORKS` (CIDRs) opts ranges back in.
 */

/** An address as bytes: 4 (IPv4) or 16 (IPv6). */
export type IpBytes = Uint8Array;

/** One CIDR of the allow-list. */
export interface Network {
  bytes: IpBytes;
  prefix: number;
}

/** IPv4 dotted decimal (exactly four decimal parts, as resolvers and the URL parser print them). */
function parseIpv4(text: string): IpBytes | null {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return null;
  return Uint8Array.from(parts.map(Number));
}

function parseIpv6(text: string): IpBytes | null {
  let s = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (!s.includes(":")) return null;
  const groups: number[] = [];
  let tail: IpBytes | null = null;
  const last = s.lastIndexOf(":");
  if (s.slice(last + 1).includes(".")) {
    tail = parseIpv4(s.slice(last + 1));
    if (!tail) return null;
    s = `${s.slice(0, last + 1)}0:0`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const read = (h: string) => h === "" ? [] : h.split(":");
  const head = read(halves[0]);
  const rest = halves.length === 2 ? read(halves[1]) : [];
  const fill = 8 - head.length - rest.length;
  if ((halves.length === 2 && fill < 1) || (halves.length === 1 && fill !== 0)) return null;
  for (const g of [...head, ...Array(fill).fill("0"), ...rest]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    groups.push(parseInt(g, 16));
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => (out[2 * i] = g >> 8, out[2 * i + 1] = g & 0xff));
  if (tail) out.set(tail, 12);
  return out;
}

/** The bytes of an IP literal (`1.2.3.4`, `::1`, `[::1]`), or null for anything else (a name). */
export function parseIp(text: string): IpBytes | null {
  return parseIpv4(text) ?? parseIpv6(text);
}

function inPrefix(addr: IpBytes, net: IpBytes, prefix: number): boolean {
  if (addr.length !== net.length) return false;
  for (let bit = 0; bit < prefix; bit += 8) {
    const bits = Math.min(8, prefix - bit);
    const mask = (0xff << (8 - bits)) & 0xff;
    if ((addr[bit / 8] & mask) !== (net[bit / 8] & mask)) return false;
  }
  return true;
}

const v4 = (cidr: string): [IpBytes, number] => {
  const [a, p] = cidr.split("/");
  return [parseIpv4(a)!, Number(p)];
};
const v6 = (cidr: string): [IpBytes, number] => {
  const [a, p] = cidr.split("/");
  return [parseIpv6(a)!, Number(p)];
};

const DENIED_V4: [string, [IpBytes, number]][] = [
  ["unspecified", v4("0.0.0.0/8")],
  ["private", v4("10.0.0.0/8")],
  ["shared (CGNAT)", v4("100.64.0.0/10")],
  ["loopback", v4("127.0.0.0/8")],
  ["link-local", v4("169.254.0.0/16")],
  ["private", v4("172.16.0.0/12")],
  ["reserved", v4("192.0.0.0/24")],
  ["private", v4("192.168.0.0/16")],
  ["reserved", v4("198.18.0.0/15")],
  ["multicast", v4("224.0.0.0/4")],
  ["reserved", v4("240.0.0.0/4")],
];
const DENIED_V6: [string, [IpBytes, number]][] = [
  ["unspecified", v6("::/128")],
  ["loopback", v6("::1/128")],
  ["private", v6("fc00::/7")],
  ["link-local", v6("fe80::/10")],
  ["site-local", v6("fec0::/10")],
  ["multicast", v6("ff00::/8")],
];
/** IPv6 ranges that embed an IPv4 address, with the offset of its 4 bytes. */
const EMBEDDING: [IpBytes, number, number][] = [
  [...v6("::ffff:0:0/96"), 12], // mapped
  [...v6("::/96"), 12], // compatible (deprecated, still routed by some stacks)
  [...v6("64:ff9b::/96"), 12], // NAT64
  [...v6("64:ff9b:1::/48"), 12], // local-use NAT64
  [...v6("2002::/16"), 2], // 6to4
];

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), or null. */
function embeddedIpv4(addr: IpBytes): IpBytes | null {
  if (addr.length !== 16) return null;
  for (const [net, prefix, at] of EMBEDDING) {
    if (inPrefix(addr, net, prefix)) return addr.slice(at, at + 4);
  }
  return null;
}

/** Why `addr` is refused by default ("loopback", "private", …), or null for a public address. */
export function deniedKind(addr: IpBytes): string | null {
  const table = addr.length === 4 ? DENIED_V4 : DENIED_V6;
  for (const [kind, [net, prefix]] of table) if (inPrefix(addr, net, prefix)) return kind;
  if (addr.length === 4 && addr.every((b) => b === 255)) return "broadcast";
  const inner = embeddedIpv4(addr);
  if (inner) {
    const kind = deniedKind(inner);
    if (kind) return `${kind} (IPv4 in IPv6)`;
  }
  return null;
}

/** Parses `ALERTS_WEBHOOK_ALLOWED_NETWORKS`: CIDRs (`10.0.0.0/8`, `::1/128`) or bare addresses, comma-separated. */
export function parseNetworks(text: string): Network[] | { error: string } {
  const out: Network[] = [];
  for (const raw of text.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const [addr, p, extra] = entry.split("/");
    const bytes = extra === undefined ? parseIp(addr) : null;
    const max = bytes?.length === 4 ? 32 : 128;
    const prefix = p === undefined ? max : /^\d{1,3}$/.test(p) ? Number(p) : NaN;
    if (!bytes || !(prefix >= 0 && prefix <= max)) {
      return { error: `"${entry}" is not an address or CIDR (10.0.0.0/8, fd00::/8)` };
    }
    out.push({ bytes, prefix });
  }
  if (out.length === 0) return { error: "lists no network" };
  return out;
}

/**
 * Why `address` (an IP literal) may not be called, or null when it may: a denied range not
 * opted back in by `allowed`. An IPv4-mapped IPv6 address also matches IPv4 networks.
 */
export function refusedAddress(address: string, allowed: readonly Network[]): string | null {
  const addr = parseIp(address);
  if (!addr) return "not an IP address";
  const kind = deniedKind(addr);
  if (kind === null) return null;
  const mapped = embeddedIpv4(addr);
  const forms = mapped ? [addr, mapped] : [addr];
  if (allowed.some((n) => forms.some((f) => inPrefix(f, n.bytes, n.prefix)))) return null;
  return `${kind} address`;
}

/** Why a receiver URL is refused at creation: an IP literal in a denied range (names are checked at delivery). */
export function refusedLiteral(url: URL, allowed: readonly Network[]): string | null {
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return parseIp(host) ? refusedAddress(host, allowed) : null;
}
