// With net.ipv6.bindv6only=0 (Linux's default) a TCP socket bound to [::] without IPV6_V6ONLY
// takes IPv4 too. So `-b [::]:8080 -b 0.0.0.0:8080` is refused EADDRINUSE by appserve's own
// first socket, and retrying (gunicorn's five "Connection in use" lines) cannot end it: this
// finds that case so the start stops at once and says which bind to drop.

import type { Libc } from "../runtime/types.ts";
import { decodeSockaddr } from "./sockaddr.ts";
import { AF_INET, AF_INET6, IPPROTO_IPV6, IPV6_V6ONLY } from "./socket_constants.ts";

/** A TCP socket's bound name, or the name `sockaddr` gives: the family, port and host. */
interface TcpName {
  family: number;
  port: number;
  host: string;
}

/**
 * Of `ownFds` (this start's listeners), the one that holds `wanted`'s port for the family the
 * socket `fd` (not bound: its bind was refused EADDRINUSE) wanted, because one of the two is a
 * dual-stack [::]; or undefined. Returns the other socket's name and which of the two is [::].
 */
export function ownDualStackHolder(
  libc: Libc,
  fd: number,
  wanted: Uint8Array,
  ownFds: number[],
): { holder: TcpName; wantedIsAny6: boolean } | undefined {
  const want = decodeSockaddr(wanted, wanted.length);
  if (want.port === 0) return undefined;
  for (const own of ownFds) {
    const name = boundName(libc, own);
    if (!name || name.port !== want.port) continue;
    if (want.family === AF_INET && isDualStackAny(libc, own, name)) {
      return { holder: name, wantedIsAny6: false };
    }
    if (name.family === AF_INET && isDualStackAny(libc, fd, want)) {
      return { holder: name, wantedIsAny6: true };
    }
  }
  return undefined;
}

function isDualStackAny(libc: Libc, fd: number, name: TcpName): boolean {
  if (name.family !== AF_INET6 || name.host !== "::") return false;
  const value = new Uint8Array(4);
  const len = new Uint8Array(new Uint32Array([4]).buffer);
  if (libc.getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, value, len) !== 0) return false;
  return new DataView(value.buffer).getInt32(0, true) === 0;
}

function boundName(libc: Libc, fd: number): TcpName | undefined {
  const sa = new Uint8Array(128);
  const len = new Uint32Array([128]);
  if (libc.getsockname(fd, sa, new Uint8Array(len.buffer)) !== 0) return undefined;
  const name = decodeSockaddr(sa, len[0]);
  return name.family === AF_INET || name.family === AF_INET6 ? name : undefined;
}
