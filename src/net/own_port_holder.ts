// A TCP bind refused EADDRINUSE may be refused by one of this start's own sockets: the same
// address twice, a wildcard and a specific address of one family on one port (`-b 0.0.0.0:P
// -b 127.0.0.1:P`, `-b [::]:P -b [::1]:P`), or, with net.ipv6.bindv6only=0 (Linux's default), a
// [::] without IPV6_V6ONLY, which takes IPv4 too, and any IPv4 address on its port. Retrying
// (gunicorn's five "Connection in use" lines) cannot end that: this finds the socket that holds
// the port, so the start stops at once and says which bind to drop.

import { AF_INET, AF_INET6, IPPROTO_IPV6, IPV6_V6ONLY } from "./socket_constants.ts";
import type { Libc } from "../runtime/types.ts";

/** How an own socket holds the port another bind wants. */
export type HoldsBy =
  /** Both are the same address. */
  | "same"
  /** The holder is its family's wildcard (0.0.0.0, [::]) and the wanted one an address of it. */
  | "holder-any"
  /** The wanted one is its family's wildcard and the holder an address of it. */
  | "wanted-any"
  /** The holder is a dual-stack [::], the wanted one an IPv4 address. */
  | "holder-dual-stack"
  /** The wanted one is a dual-stack [::], the holder an IPv4 address. */
  | "wanted-dual-stack";

// The addresses a socket takes on its port, per family: IPv4 as dotted text, IPv6 as hex.
// A v4-mapped [::ffff:a.b.c.d] is a.b.c.d to the kernel.
interface Takes {
  v4?: string;
  v6?: string;
  dualStack: boolean;
}

const ANY4 = "0.0.0.0";
const ANY6 = "0".repeat(32);

/**
 * Of `own` (this start's listeners), the one that holds the port `wanted` (the sockaddr the
 * socket `fd`, not bound, was refused EADDRINUSE for) names, and how; or undefined when none
 * does (another process holds it).
 */
export function ownPortHolder<T extends { fd: number }>(
  libc: Libc,
  fd: number,
  wanted: Uint8Array,
  own: T[],
): { holder: T; by: HoldsBy; family: "IPv4" | "IPv6" } | undefined {
  const port = portOf(wanted);
  if (port === 0) return undefined;
  const want = takes(libc, fd, wanted);
  if (!want) return undefined;
  for (const holder of own) {
    const name = boundName(libc, holder.fd);
    if (!name || portOf(name) !== port) continue;
    const held = takes(libc, holder.fd, name);
    if (!held) continue;
    const by = clash(want.v6, held.v6, ANY6);
    if (by) return { holder, by, family: "IPv6" };
    const by4 = clash(want.v4, held.v4, ANY4);
    if (!by4) continue;
    // IPv6 did not clash, so the other one is IPv4: [::] holds it as a dual-stack socket.
    if (held.dualStack) return { holder, by: "holder-dual-stack", family: "IPv4" };
    if (want.dualStack) return { holder, by: "wanted-dual-stack", family: "IPv4" };
    return { holder, by: by4, family: "IPv4" };
  }
  return undefined;
}

function clash(want: string | undefined, held: string | undefined, any: string): HoldsBy | "" {
  if (want === undefined || held === undefined) return "";
  if (want === held) return "same";
  if (held === any) return "holder-any";
  if (want === any) return "wanted-any";
  return "";
}

function portOf(sockaddr: Uint8Array): number {
  return new DataView(sockaddr.buffer, sockaddr.byteOffset).getUint16(2, false);
}

function takes(libc: Libc, fd: number, sockaddr: Uint8Array): Takes | undefined {
  const family = new DataView(sockaddr.buffer, sockaddr.byteOffset).getUint16(0, true);
  if (family === AF_INET) return { v4: [...sockaddr.subarray(4, 8)].join("."), dualStack: false };
  if (family !== AF_INET6) return undefined;
  const bytes = sockaddr.subarray(8, 24);
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  if (hex.startsWith("0".repeat(20) + "ffff")) {
    return { v4: [...bytes.subarray(12)].join("."), dualStack: false };
  }
  if (hex !== ANY6) return { v6: hex, dualStack: false };
  const dualStack = !v6Only(libc, fd);
  return { v6: hex, v4: dualStack ? ANY4 : undefined, dualStack };
}

function v6Only(libc: Libc, fd: number): boolean {
  const value = new Uint8Array(4);
  const len = new Uint8Array(new Uint32Array([4]).buffer);
  if (libc.getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, value, len) !== 0) return true;
  return new DataView(value.buffer).getInt32(0, true) !== 0;
}

function boundName(libc: Libc, fd: number): Uint8Array | undefined {
  const sa = new Uint8Array(128);
  const len = new Uint32Array([128]);
  if (libc.getsockname(fd, sa, new Uint8Array(len.buffer)) !== 0) return undefined;
  return sa.subarray(0, len[0]);
}
