// The PROXY protocol (HAProxy; nginx `proxy_protocol on`): a header a load balancer sends before
// the first request of a connection, naming the client it accepted. v1 is one text line, v2 a
// binary block. As in gunicorn the header is optional: a connection that does not start with one
// is plain HTTP.

import { Buffer } from "node:buffer";
import { isIPv6 } from "node:net";
import { ParseError, type ProxyMode, type RemoteAddr } from "./types.ts";

/** What the first bytes of a connection hold. */
export type ProxyHeader =
  /** Not enough bytes yet to tell, or to finish the header. */
  | { kind: "more" }
  /** No PROXY header: the bytes are HTTP. */
  | { kind: "none" }
  /** A header of `length` bytes; `remote` is the client, or null to keep the socket's peer. */
  | { kind: "header"; version: 1 | 2; length: number; remote: RemoteAddr | null };

const V1_PREFIX = Buffer.from("PROXY ", "latin1");
const V2_SIGNATURE = Buffer.from([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
// The spec's bound on a v1 line, CRLF included.
const V1_MAX = 107;
const MORE: ProxyHeader = { kind: "more" };
const NONE: ProxyHeader = { kind: "none" };

// Whether `buf` starts with `prefix`, or is a shorter piece of it (-1: undecided yet).
function startsWith(buf: Uint8Array, prefix: Uint8Array): number {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return 0;
  return buf.length >= prefix.length ? 1 : -1;
}

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function port(text: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(text) || Number(text) > 65535) {
    throw new ParseError(400, "invalid PROXY v1 port");
  }
  return Number(text);
}

function parseV1(buf: Uint8Array): ProxyHeader {
  const end = buf.indexOf(0x0a);
  if (end < 0) {
    if (buf.length >= V1_MAX) throw new ParseError(400, "PROXY v1 line too long");
    return MORE;
  }
  if (end + 1 > V1_MAX || buf[end - 1] !== 0x0d) {
    throw new ParseError(400, "malformed PROXY v1 line");
  }
  const line = Buffer.from(buf.buffer, buf.byteOffset, end - 1).toString("latin1");
  const parts = line.split(" ");
  if (parts[1] === "UNKNOWN") return { kind: "header", version: 1, length: end + 1, remote: null };
  if (parts.length !== 6 || (parts[1] !== "TCP4" && parts[1] !== "TCP6")) {
    throw new ParseError(400, "malformed PROXY v1 line");
  }
  const [, proto, src, dst] = parts;
  // The source becomes info.remoteAddr and %(h)s, and forwarded trust is judged on it.
  const ok = proto === "TCP4" ? V4.test(src) && V4.test(dst) : isIPv6(src) && isIPv6(dst);
  if (!ok) throw new ParseError(400, "invalid address in PROXY v1 line");
  const srcPort = port(parts[4]);
  port(parts[5]);
  return {
    kind: "header",
    version: 1,
    length: end + 1,
    remote: { transport: "tcp", hostname: src, port: srcPort },
  };
}

function ipv6(buf: Uint8Array, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((buf[at + i] << 8) | buf[at + i + 1]).toString(16));
  // The canonical short form: the longest run of zero groups becomes "::".
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(":");
  return groups.slice(0, best).join(":") + "::" + groups.slice(best + bestLen).join(":");
}

function parseV2(buf: Uint8Array): ProxyHeader {
  if (buf.length < 16) return MORE;
  const verCmd = buf[12];
  if (verCmd >> 4 !== 2) throw new ParseError(400, "unsupported PROXY v2 version");
  const command = verCmd & 0x0f;
  if (command > 1) throw new ParseError(400, "unknown PROXY v2 command");
  const family = buf[13];
  const length = 16 + ((buf[14] << 8) | buf[15]);
  if (buf.length < length) return MORE;
  // LOCAL (health checks from the proxy itself) and families other than TCP keep the peer.
  if (command === 0) return { kind: "header", version: 2, length, remote: null };
  if (family === 0x11) {
    if (length < 16 + 12) throw new ParseError(400, "short PROXY v2 IPv4 address block");
    const src = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`;
    const srcPort = (buf[24] << 8) | buf[25];
    return {
      kind: "header",
      version: 2,
      length,
      remote: { transport: "tcp", hostname: src, port: srcPort },
    };
  }
  if (family === 0x21) {
    if (length < 16 + 36) throw new ParseError(400, "short PROXY v2 IPv6 address block");
    const srcPort = (buf[48] << 8) | buf[49];
    return {
      kind: "header",
      version: 2,
      length,
      remote: { transport: "tcp", hostname: ipv6(buf, 16), port: srcPort },
    };
  }
  return { kind: "header", version: 2, length, remote: null };
}

/** Looks for a PROXY header at the start of `buf`, as `mode` allows. Throws ParseError(400). */
export function readProxyHeader(buf: Uint8Array, mode: ProxyMode): ProxyHeader {
  // Both versions are recognised in every mode, so the wrong one gets a clear 400 rather than
  // being read as (never-ending) HTTP.
  const v1 = startsWith(buf, V1_PREFIX);
  const v2 = startsWith(buf, V2_SIGNATURE);
  if (v1 < 0 || v2 < 0) return MORE;
  if (v1 > 0 || v2 > 0) {
    const version = v1 > 0 ? "v1" : "v2";
    if (mode !== "auto" && mode !== version) {
      throw new ParseError(400, `PROXY ${version} header, but proxy_protocol is ${mode}`);
    }
    return v1 > 0 ? parseV1(buf) : parseV2(buf);
  }
  return NONE;
}
