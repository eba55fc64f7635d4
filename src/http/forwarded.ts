// Proxy trust: what a trusted proxy's X-Forwarded-For, RFC 7239 Forwarded and secure-scheme
// headers (gunicorn's secure_scheme_headers) say about the client. Untrusted peers' headers are
// left alone: they still reach the app as plain headers but change nothing.

import { AddressMatcher, parseIp } from "../net/ip_match.ts";
import { type ForwardedTrust, ParseError, type RemoteAddr } from "./types.ts";

export type { ForwardedTrust } from "./types.ts";

/** Builds the trust from the two settings; throws on an invalid address or range. */
export function forwardedTrust(
  allowIps: readonly string[],
  secureSchemeHeaders: Readonly<Record<string, string>>,
): ForwardedTrust {
  const secure = new Map(
    Object.entries(secureSchemeHeaders).map(([k, v]) => [k.toLowerCase(), v]),
  );
  const names = ["x-forwarded-for", "forwarded", ...secure.keys()];
  return {
    allow: new AddressMatcher(allowIps),
    secure,
    initials: new Set(names.filter(Boolean).map((n) => n.charCodeAt(0))),
  };
}

/** A peer whose forwarding headers change nothing. */
export const TRUST_NONE = 0;
/** A peer believed on the scheme only (secure_scheme_headers), not on the client. */
export const TRUST_SCHEME = 1;
/** A peer believed on scheme and client (X-Forwarded-For, Forwarded). */
export const TRUST_ALL = 2;

/**
 * How far a connection's peer may set forwarding headers. A unix socket peer is believed on the
 * scheme whatever forwarded_allow_ips says, as gunicorn believes it (nginx's X-Forwarded-Proto
 * then makes https:// URLs), and on the client only with `unix` listed.
 */
export function trustOf(trust: ForwardedTrust, peer: RemoteAddr): number {
  if (peer.transport === "unix") return trust.allow.unix ? TRUST_ALL : TRUST_SCHEME;
  return trust.allow.matches(peer.hostname) ? TRUST_ALL : TRUST_NONE;
}

/** The outcome for one request: the scheme and client a trusted proxy reported. */
export interface Forwarding {
  scheme: "http" | "https" | null;
  remote: RemoteAddr | null;
}

// `1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`; null for `unknown`, `_obfuscated` and garbage.
function nodeAddress(text: string): { hostname: string; port: number } | null {
  let host = text.trim();
  let port = 0;
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    if (close < 0) return null;
    const rest = host.slice(close + 1);
    host = host.slice(1, close);
    if (rest.startsWith(":") && /^\d{1,5}$/.test(rest.slice(1))) port = Number(rest.slice(1));
    else if (rest !== "") return null;
  } else if (host.indexOf(":") === host.lastIndexOf(":") && host.includes(":")) {
    const [h, p] = host.split(":");
    if (!/^\d{1,5}$/.test(p)) return null;
    host = h;
    port = Number(p);
  }
  if (parseIp(host) === null) return null;
  return { hostname: host, port: port <= 65535 ? port : 0 };
}

interface Hop {
  for: string | null;
  proto: string | null;
}

// RFC 7239: elements separated by commas, pairs by semicolons, values token or quoted-string.
function parseForwarded(value: string, hops: Hop[]): void {
  const re = /\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*([;,]|$)/y;
  let hop: Hop = { for: null, proto: null };
  let pos = 0;
  while (pos < value.length) {
    re.lastIndex = pos;
    const m = re.exec(value);
    if (m === null) {
      // Unparsable from here on: keep what was read, start a fresh element at the next comma.
      const comma = value.indexOf(",", pos);
      hops.push(hop);
      hop = { for: null, proto: null };
      if (comma < 0) return;
      pos = comma + 1;
      continue;
    }
    pos = re.lastIndex;
    let v = m[2];
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, "$1");
    const key = m[1].toLowerCase();
    if (key === "for") hop.for = v;
    else if (key === "proto") hop.proto = v.toLowerCase();
    if (m[3] === "," || m[3] === "") {
      hops.push(hop);
      hop = { for: null, proto: null };
      if (m[3] === "") return;
    }
    if (m[0].length === 0) return;
  }
}

// Nearest hop first: the client is the last hop that a trusted proxy did not add.
function pickClient(trust: ForwardedTrust, hops: Hop[]): Hop | null {
  for (let i = hops.length - 1; i >= 0; i--) {
    const f = hops[i].for;
    const addr = f === null ? null : nodeAddress(f);
    if (addr === null) return null;
    if (i === 0 || !trust.allow.matches(addr.hostname)) return hops[i];
  }
  return null;
}

// The client a hop names, for comparing two headers' verdicts: null when it names none.
function clientKey(hop: Hop | null): string | null {
  const addr = hop?.for ? nodeAddress(hop.for) : null;
  const bytes = addr === null ? null : parseIp(addr.hostname);
  return bytes === null ? null : bytes.join(".");
}

/**
 * Reads the forwarding headers of a request from a trusted peer. `Forwarded` and
 * `X-Forwarded-For` must name the same client, and a Forwarded `proto` must agree with
 * secure_scheme_headers, which must agree among themselves: a proxy that passes a client's own
 * header on (nginx does unless told not to) must not let it choose its address or scheme. Any
 * contradiction is a 400, as gunicorn answers contradictory secure-scheme headers.
 */
export function readForwarding(
  trust: ForwardedTrust,
  headers: readonly [string, string][],
  level: number = TRUST_ALL,
): Forwarding {
  // Believed on the scheme only: X-Forwarded-For and Forwarded are not read at all.
  const clients = level === TRUST_ALL;
  let scheme: "http" | "https" | null = null;
  let forwarded: Hop[] | null = null;
  let xff: Hop[] | null = null;
  const secure = trust.secure;
  const initials = trust.initials;
  for (let i = 0; i < headers.length; i++) {
    const name = headers[i][0];
    // Most headers are skipped on their first letter, without lower-casing.
    let c = name.charCodeAt(0);
    if (c >= 65 && c <= 90) c |= 0x20;
    if (!initials.has(c)) continue;
    const lower = name.toLowerCase();
    const value = headers[i][1];
    if (clients && lower === "x-forwarded-for") {
      xff ??= [];
      for (const part of value.split(",")) xff.push({ for: part.trim(), proto: null });
    } else if (clients && lower === "forwarded") {
      forwarded ??= [];
      parseForwarded(value, forwarded);
    }
    const want = secure.get(lower);
    if (want !== undefined) {
      const s = value === want ? "https" : "http";
      if (scheme !== null && scheme !== s) {
        throw new ParseError(400, "Contradictory scheme headers");
      }
      scheme = s;
    }
  }
  let remote: RemoteAddr | null = null;
  const hops = forwarded ?? xff;
  if (hops === null) return { scheme, remote };
  const client = pickClient(trust, hops);
  // Only a request carrying both headers pays for the second walk. An empty or client-less
  // Forwarded next to X-Forwarded-For is a contradiction too: it would hide the client.
  if (
    forwarded !== null && xff !== null && clientKey(client) !== clientKey(pickClient(trust, xff))
  ) {
    throw new ParseError(400, "Contradictory forwarding headers");
  }
  const addr = client?.for ? nodeAddress(client.for) : null;
  if (addr !== null) remote = { transport: "tcp", hostname: addr.hostname, port: addr.port };
  if (forwarded !== null && (client?.proto === "https" || client?.proto === "http")) {
    if (scheme !== null && scheme !== client.proto) {
      throw new ParseError(400, "Contradictory scheme headers");
    }
    scheme = client.proto;
  }
  return { scheme, remote };
}
