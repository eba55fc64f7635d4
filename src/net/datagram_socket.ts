// A connected datagram socket made through libc, for --log-syslog's datagrams (UDP or unix) and
// systemd's NOTIFY_SOCKET: neither runtime has unix datagram sockets without an unstable flag.
// Non-blocking, so a full receiver costs a lost datagram, never a wait; close-on-exec, so no
// process spawned meanwhile inherits it.

import type { Libc } from "../runtime/types.ts";
import { SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK } from "./socket_constants.ts";

/** A connected socket's fd, or the call that failed and its errno (nothing left open then). */
export type DatagramSocket = { fd: number } | { failed: "socket" | "connect"; errno: number };

/** A non-blocking, close-on-exec datagram socket of `family`, connected to `sockaddr`. */
export function connectDatagram(libc: Libc, family: number, sockaddr: Uint8Array): DatagramSocket {
  const fd = libc.socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return { failed: "socket", errno: libc.errno() };
  if (libc.connect(fd, sockaddr) < 0) {
    // Read before close(), which may set errno itself.
    const errno = libc.errno();
    libc.close(fd);
    return { failed: "connect", errno };
  }
  return { fd };
}
