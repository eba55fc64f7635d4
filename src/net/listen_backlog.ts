// The listen queue (gunicorn's enable_backlog_metric): connections the kernel has completed that
// no worker has accepted yet. For a TCP socket this process holds, TCP_INFO's tcpi_unacked, as
// gunicorn reads it; for reuse-port sockets, which only the workers hold, the rx_queue of their
// listening sockets in /proc/net/tcp{,6}; for a unix socket, which shows its queue only through
// netlink's sock_diag, the rqueue of its UNIX_DIAG_RQLEN (ss -xl's Recv-Q). Linux only:
// elsewhere nothing is read.

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { Libc } from "../runtime/types.ts";
import { AF_UNIX } from "./sockaddr.ts";

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

const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
// Opened and closed within one scrape; CLOEXEC all the same, so no spawned worker inherits it.
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_SOCK_DIAG = 4;
// linux/sock_diag.h, linux/netlink.h, linux/unix_diag.h.
const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 1;
const UDIAG_SHOW_RQLEN = 0x10;
const UNIX_DIAG_RQLEN = 4;
const NLA_TYPE_MASK = 0x3fff;
// struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid } is 16 bytes, then
// struct unix_diag_req { u8 family, protocol; u16 pad; u32 states, ino, show; u32 cookie[2] }
// (24) in the request, struct unix_diag_msg { u8 family, type, state, pad; u32 ino;
// u32 cookie[2] } (16) and its attributes in the reply.
const HEADER = 16;
const REQUEST_BYTES = HEADER + 24;
const MESSAGE = HEADER + 16;

/**
 * Connections waiting in the accept queue of each listening unix socket among `fds`, by fd,
 * from the kernel's sock_diag: one netlink request per socket, its inode's. An fd that is not
 * a listening unix socket, or a kernel that will not say, gives no entry.
 */
export function unixListenQueues(libc: Libc, fds: number[]): Map<number, number> {
  const queues = new Map<number, number>();
  const inodes = new Map<number, number>();
  for (const fd of fds) {
    const inode = fdInode(fd);
    if (inode !== undefined) inodes.set(fd, inode);
  }
  if (inodes.size === 0) return queues;
  const type = SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const sock = libc.socket(AF_NETLINK, type, NETLINK_SOCK_DIAG);
  if (sock < 0) return queues;
  try {
    const reply = new Uint8Array(1024);
    for (const [fd, inode] of inodes) {
      if (libc.write(sock, diagRequest(inode, fd)) !== REQUEST_BYTES) continue;
      // The kernel answers within the write; a reply not there now never comes.
      const length = libc.recv(sock, reply, 0);
      const queued = length > 0 ? rqueue(reply.subarray(0, length), inode, fd) : undefined;
      if (queued !== undefined) queues.set(fd, queued);
    }
  } finally {
    libc.close(sock);
  }
  return queues;
}

// "socket:[INODE]" is what /proc/self/fd shows for a socket.
function fdInode(fd: number): number | undefined {
  try {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

// The unix socket with inode `inode`, if listening; cookie ~0 matches any. The fd is the
// sequence number, to match the reply with.
function diagRequest(inode: number, seq: number): Uint8Array {
  const bytes = new Uint8Array(REQUEST_BYTES);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, REQUEST_BYTES, true);
  v.setUint16(4, SOCK_DIAG_BY_FAMILY, true);
  v.setUint16(6, NLM_F_REQUEST, true);
  v.setUint32(8, seq, true);
  v.setUint8(HEADER, AF_UNIX);
  v.setUint32(HEADER + 4, 1 << TCP_LISTEN, true);
  v.setUint32(HEADER + 8, inode, true);
  v.setUint32(HEADER + 12, UDIAG_SHOW_RQLEN, true);
  v.setUint32(HEADER + 16, 0xffffffff, true);
  v.setUint32(HEADER + 20, 0xffffffff, true);
  return bytes;
}

// The reply's rqueue, which for a listening socket is its accept queue's length; undefined for
// an error (NLMSG_ERROR: no such socket), another socket, or one not listening.
function rqueue(reply: Uint8Array, inode: number, seq: number): number | undefined {
  if (reply.length < MESSAGE) return undefined;
  const v = new DataView(reply.buffer, reply.byteOffset, reply.length);
  const end = Math.min(v.getUint32(0, true), reply.length);
  if (v.getUint16(4, true) !== SOCK_DIAG_BY_FAMILY || v.getUint32(8, true) !== seq) {
    return undefined;
  }
  if (v.getUint8(HEADER + 2) !== TCP_LISTEN || v.getUint32(HEADER + 4, true) !== inode) {
    return undefined;
  }
  // struct nlattr { u16 len; u16 type } then its value, each padded to 4 bytes.
  for (let at = MESSAGE; at + 4 <= end;) {
    const length = v.getUint16(at, true);
    if (length < 4) break;
    const kind = v.getUint16(at + 2, true) & NLA_TYPE_MASK;
    // struct unix_diag_rqlen { u32 rqueue; u32 wqueue }
    if (kind === UNIX_DIAG_RQLEN && length >= 12 && at + 8 <= end) {
      return v.getUint32(at + 4, true);
    }
    at += (length + 3) & ~3;
  }
  return undefined;
}
