// The listen queue (gunicorn's enable_backlog_metric): connections the kernel has completed that
// no worker has accepted yet. For a TCP socket this process holds, TCP_INFO's tcpi_unacked, as
// gunicorn reads it; for reuse-port sockets, which only the workers hold, the rx_queue of their
// listening sockets in /proc/net/tcp{,6}. Linux only: elsewhere nothing is read. Unix sockets
// show their queue only through netlink's sock_diag, so they have none here.

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { Libc } from "../runtime/types.ts";

const IPPROTO_TCP = 6;
const TCP_INFO = 11;
const TCP_LISTEN = 10;
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
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(Number(m[1]));
    } catch {
      // Closed since the listing.
    }
  }
  return inodes;
}

/** A listening TCP socket of /proc/net/tcp{,6}: its port, inode and accept queue's length. */
export interface ListeningSocket {
  port: number;
  inode: number;
  queued: number;
}

/**
 * The listening TCP sockets whose inode is in `inodes`, from /proc/net/tcp and tcp6, where a
 * listening socket's rx_queue is its accept queue's length.
 */
export function listeningSockets(inodes: Set<number>): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  if (inodes.size === 0) return out;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "latin1");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== "0A") continue;
      const inode = Number(f[9]);
      if (!inodes.has(inode)) continue;
      const queued = parseInt(f[4].split(":")[1], 16);
      const port = parseInt(f[1].slice(f[1].lastIndexOf(":") + 1), 16);
      out.push({ port, inode, queued });
    }
  }
  return out;
}
