// The listen queue (gunicorn's enable_backlog_metric): connections the kernel has completed that
// no worker has accepted yet. For a TCP socket this process holds, TCP_INFO's tcpi_unacked, as
// gunicorn reads it; for the rest, netlink's sock_diag (src/net/_sock_diag.ts): a unix socket
// shows its queue only there, and reuse-port sockets, which only the workers hold, are found in
// its dump of listening TCP sockets by the inodes /proc/PID/fd shows. Linux only: elsewhere
// nothing is read.

import { readdirSync, readlinkSync } from "node:fs";
import type { Libc } from "../runtime/types.ts";
import { type InetListener, inetListeners, unixQueues } from "./_sock_diag.ts";
import { IPPROTO_TCP, TCP_INFO, TCP_LISTEN } from "./socket_constants.ts";

export type { InetListener };

// struct tcp_info: u8 tcpi_state at 0, u32 tcpi_unacked at 24: for a listening socket, the
// length of its accept queue.
const INFO_BYTES = 104;
const UNACKED = 24;

/**
 * Connections waiting in the accept queue of the listening TCP socket `fd`; undefined when it is
 * none (a unix socket, or not Linux).
 */
export function tcpListenQueue(libc: Libc, fd: number): number | undefined {
  const info = new Uint8Array(INFO_BYTES);
  const len = new Uint8Array(new Uint32Array([INFO_BYTES]).buffer);
  if (libc.getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, len) !== 0) return undefined;
  if (info[0] !== TCP_LISTEN) return undefined;
  return new DataView(info.buffer).getUint32(UNACKED, true);
}

/**
 * The host's listening TCP sockets with their accept queues, from one netlink dump per address
 * family; undefined when netlink will not answer (not Linux, refused).
 */
export function tcpListeners(libc: Libc): InetListener[] | undefined {
  return inetListeners(libc);
}

/** The inodes of the sockets process `pid` has open (empty when /proc cannot tell). */
export function socketInodes(pid: number): Set<number> {
  const inodes = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    const inode = socketInode(`/proc/${pid}/fd/${fd}`);
    if (inode !== undefined) inodes.add(inode);
  }
  return inodes;
}

/**
 * Connections waiting in the accept queue of each listening unix socket among `fds`, by fd,
 * from the kernel's sock_diag: one netlink request per socket, its inode's. An fd that is not
 * a listening unix socket, or a kernel that will not say, gives no entry.
 */
export function unixListenQueues(libc: Libc, fds: number[]): Map<number, number> {
  const inodes = new Map<number, number>();
  for (const fd of fds) {
    const inode = socketInode(`/proc/self/fd/${fd}`);
    if (inode !== undefined) inodes.set(fd, inode);
  }
  return unixQueues(libc, inodes);
}

// "socket:[INODE]" is what /proc/PID/fd shows for a socket; undefined for anything else, or
// an fd closed since it was listed.
function socketInode(link: string): number | undefined {
  try {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(link));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
