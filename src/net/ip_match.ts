// IP addresses and CIDR ranges as the trust settings (forwarded_allow_ips, proxy_allow_ips) use
// them: parsed into 16 bytes (IPv4 as ::ffff:a.b.c.d, the form a dual-stack socket reports), so
// one comparison serves both families.

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function parseV4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255 || (p.length > 1 && p[0] === "0")) return null;
    out.push(Number(p));
  }
  return out;
}

function parseV6(text: string): number[] | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  let tail: number[] = [];
  let rest = text;
  // An embedded IPv4 address in the last 32 bits.
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    const v4 = parseV4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = v4;
    rest = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = rest.split("::");
  if (halves.length > 2) return null;
  const group = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      const v = parseInt(g, 16);
      out.push(v >> 8, v & 0xff);
    }
    return out;
  };
  const head = group(halves[0]);
  const back = halves.length === 2 ? group(halves[1]) : [];
  if (head === null || back === null) return null;
  const missing = 16 - head.length - back.length;
  if (halves.length === 2 ? missing < 2 : missing !== 0) return null;
  const bytes = [...head, ...new Array(missing).fill(0), ...back];
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** The 16-byte form of an IPv4 or IPv6 address, or null if `text` is neither. */
export function parseIp(text: string): Uint8Array | null {
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  const v4 = parseV4(text);
  if (v4 !== null) return Uint8Array.from([...V4_MAPPED_PREFIX, ...v4]);
  if (!text.includes(":")) return null;
  const v6 = parseV6(text);
  return v6 === null ? null : Uint8Array.from(v6);
}

interface Range {
  bytes: Uint8Array;
  bits: number;
}

/** Parses `IP` or `IP/BITS`; throws an Error with a one-line message when it is neither. */
export function parseRange(text: string): Range {
  const slash = text.indexOf("/");
  const ip = slash < 0 ? text : text.slice(0, slash);
  const bytes = parseIp(ip);
  if (bytes === null) throw new Error(`"${text}" is not an IP address or CIDR range`);
  const v4 = parseV4(ip) !== null;
  const max = v4 ? 32 : 128;
  if (slash < 0) return { bytes, bits: 128 };
  const bitsText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) {
    throw new Error(`"${text}" has an invalid prefix length (0 to ${max})`);
  }
  return { bytes, bits: Number(bitsText) + (v4 ? 96 : 0) };
}

function inRange(ip: Uint8Array, r: Range): boolean {
  let bits = r.bits;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i] & mask) !== (r.bytes[i] & mask)) return false;
  }
  return true;
}

/**
 * A trust list: IPs, CIDR ranges, `*` (every peer, unix-socket peers included) and `unix`
 * (peers on a unix socket, which have no address).
 */
export class AddressMatcher {
  readonly any: boolean;
  readonly unix: boolean;
  private readonly ranges: Range[];
  private readonly cache = new Map<string, boolean>();

  constructor(items: readonly string[]) {
    this.any = items.includes("*");
    this.unix = this.any || items.includes("unix");
    this.ranges = items.filter((i) => i !== "*" && i !== "unix").map(parseRange);
  }

  /** Whether a TCP peer with this address is trusted. */
  matches(address: string): boolean {
    if (this.any) return true;
    let hit = this.cache.get(address);
    if (hit === undefined) {
      const ip = parseIp(address);
      hit = ip !== null && this.ranges.some((r) => inRange(ip, r));
      // Peers repeat; bound the memo so a scan of many addresses cannot grow it forever.
      if (this.cache.size > 1024) this.cache.clear();
      this.cache.set(address, hit);
    }
    return hit;
  }
}
