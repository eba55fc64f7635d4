// Netlink sock_diag (NETLINK_SOCK_DIAG): the kernel's own view of a socket's queues. Two
// questions: one unix socket's accept queue, by inode (UNIX_DIAG_RQLEN), and a dump of the
// host's listening TCP sockets (inet_diag, filtered to TCP_LISTEN by the kernel), whose
// idiag_rqueue is a listener's accept queue. A reply that does not parse gives no answer.

import type { Libc } from "../runtime/types.ts";
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  AF_UNIX,
  IPPROTO_TCP,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  TCP_LISTEN,
} from "./socket_constants.ts";

const NETLINK_SOCK_DIAG = 4;
// linux/netlink.h, linux/sock_diag.h, linux/unix_diag.h, linux/inet_diag.h.
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 1;
const NLM_F_DUMP = 0x300;
const UDIAG_SHOW_RQLEN = 0x10;
const UNIX_DIAG_RQLEN = 4;
const NLA_TYPE_MASK = 0x3fff;
// struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid } is 16 bytes.
const HEADER = 16;
// struct unix_diag_req { u8 family, protocol; u16 pad; u32 states, ino, show; u32 cookie[2] }
// (24) in the request, struct unix_diag_msg { u8 family, type, state, pad; u32 ino;
// u32 cookie[2] } (16) and its attributes in the reply.
const UNIX_REQUEST = HEADER + 24;
const UNIX_MESSAGE = HEADER + 16;
// struct inet_diag_sockid { be16 sport, dport; be32 src[4], dst[4]; u32 if; u32 cookie[2] } (48);
// struct inet_diag_req_v2 { u8 family, protocol, ext, pad; u32 states; sockid id } (56);
// struct inet_diag_msg { u8 family, state, timer, retrans; sockid id; u32 expires, rqueue,
// wqueue, uid, inode } (72): sport at 4, src at 8, rqueue at 56, inode at 68.
const INET_REQUEST = HEADER + 56;
const INET_MESSAGE = HEADER + 72;
// A dump's datagrams are at most 32 KiB (the kernel sizes them by the reader's buffer, up to
// that); a bound on the reads, so a reply that never ends cannot hold the caller.
const DUMP_BUFFER = 64 * 1024;
const MAX_DUMP_READS = 4096;

/** A listening TCP socket, as inet_diag shows it. */
export interface InetListener {
  family: typeof AF_INET | typeof AF_INET6;
  /** The bound address, 4 or 16 bytes in network order (all zero for a wildcard bind). */
  address: Uint8Array;
  port: number;
  inode: number;
  /** Connections waiting in its accept queue. */
  queued: number;
}

function open(libc: Libc): number {
  // Opened and closed within one read; CLOEXEC all the same, so no spawned worker inherits it.
  return libc.socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
}

function header(v: DataView, length: number, flags: number, seq: number): void {
  v.setUint32(0, length, true);
  v.setUint16(4, SOCK_DIAG_BY_FAMILY, true);
  v.setUint16(6, flags, true);
  v.setUint32(8, seq, true);
}

/**
 * The accept queue of each listening unix socket among `inodes` (key → inode), by key: one
 * request per socket. A socket that is not a listening unix socket, or a kernel that will
 * not say, gives no entry.
 */
export function unixQueues<K>(libc: Libc, inodes: Map<K, number>): Map<K, number> {
  const queues = new Map<K, number>();
  if (inodes.size === 0) return queues;
  const sock = open(libc);
  if (sock < 0) return queues;
  try {
    const reply = new Uint8Array(1024);
    let seq = 0;
    for (const [key, inode] of inodes) {
      seq++;
      if (libc.write(sock, unixRequest(inode, seq)) !== UNIX_REQUEST) continue;
      // The kernel answers within the write; a reply not there now never comes.
      const length = libc.recv(sock, reply, 0);
      const queued = length > 0 ? unixRqueue(reply.subarray(0, length), inode, seq) : undefined;
      if (queued !== undefined) queues.set(key, queued);
    }
  } finally {
    libc.close(sock);
  }
  return queues;
}

// The unix socket with inode `inode`, if listening; cookie ~0 matches any.
function unixRequest(inode: number, seq: number): Uint8Array {
  const bytes = new Uint8Array(UNIX_REQUEST);
  const v = new DataView(bytes.buffer);
  header(v, UNIX_REQUEST, NLM_F_REQUEST, seq);
  v.setUint8(HEADER, AF_UNIX);
  v.setUint32(HEADER + 4, 1 << TCP_LISTEN, true);
  v.setUint32(HEADER + 8, inode, true);
  v.setUint32(HEADER + 12, UDIAG_SHOW_RQLEN, true);
  v.setUint32(HEADER + 16, 0xffffffff, true);
  v.setUint32(HEADER + 20, 0xffffffff, true);
  return bytes;
}

/**
 * A unix_diag reply's rqueue, which for a listening socket is its accept queue's length;
 * undefined for an error (NLMSG_ERROR: no such socket), another socket, one not listening, or
 * bytes that are not such a reply.
 */
export function unixRqueue(reply: Uint8Array, inode: number, seq: number): number | undefined {
  if (reply.length < UNIX_MESSAGE) return undefined;
  const v = new DataView(reply.buffer, reply.byteOffset, reply.length);
  const end = v.getUint32(0, true);
  if (end < UNIX_MESSAGE || end > reply.length) return undefined;
  if (v.getUint16(4, true) !== SOCK_DIAG_BY_FAMILY || v.getUint32(8, true) !== seq) {
    return undefined;
  }
  if (v.getUint8(HEADER + 2) !== TCP_LISTEN || v.getUint32(HEADER + 4, true) !== inode) {
    return undefined;
  }
  // struct nlattr { u16 len; u16 type } then its value, each padded to 4 bytes.
  for (let at = UNIX_MESSAGE; at + 4 <= end;) {
    const length = v.getUint16(at, true);
    if (length < 4) break;
    const kind = v.getUint16(at + 2, true) & NLA_TYPE_MASK;
    // struct unix_diag_rqlen { u32 rqueue; u32 wqueue }
    if (kind === UNIX_DIAG_RQLEN && length >= 12 && at + 12 <= end) {
      return v.getUint32(at + 4, true);
    }
    at += (length + 3) & ~3;
  }
  return undefined;
}

/**
 * The host's listening TCP sockets (IPv4 and IPv6), from two inet_diag dumps; undefined when
 * netlink cannot be opened. A family whose dump fails (an error, a reply that does not parse,
 * no end) is left out.
 */
export function inetListeners(libc: Libc): InetListener[] | undefined {
  const sock = open(libc);
  if (sock < 0) return undefined;
  try {
    const buffer = new Uint8Array(DUMP_BUFFER);
    const out: InetListener[] = [];
    for (const [seq, family] of [[1, AF_INET], [2, AF_INET6]]) {
      const request = inetDumpRequest(family, seq);
      if (libc.write(sock, request) !== request.length) continue;
      const found: InetListener[] = [];
      let state: DumpState = "more";
      for (let reads = 0; state === "more" && reads < MAX_DUMP_READS; reads++) {
        // Each read has the kernel queue the dump's next part; nothing there means no end.
        const length = libc.recv(sock, buffer, 0);
        state = length > 0 ? inetDumpPart(buffer.subarray(0, length), seq, found) : "error";
      }
      if (state === "done") out.push(...found);
    }
    return out;
  } finally {
    libc.close(sock);
  }
}

function inetDumpRequest(family: number, seq: number): Uint8Array {
  const bytes = new Uint8Array(INET_REQUEST);
  const v = new DataView(bytes.buffer);
  header(v, INET_REQUEST, NLM_F_REQUEST | NLM_F_DUMP, seq);
  v.setUint8(HEADER, family);
  v.setUint8(HEADER + 1, IPPROTO_TCP);
  v.setUint32(HEADER + 4, 1 << TCP_LISTEN, true);
  return bytes;
}

/** Where a dump stands after one of its datagrams. */
export type DumpState = "more" | "done" | "error";

/**
 * Adds the listeners of one datagram of dump `seq` to `out`: "done" at its NLMSG_DONE,
 * "error" at an NLMSG_ERROR or a message whose length does not fit, else "more". Messages of
 * another sequence number are skipped.
 */
export function inetDumpPart(part: Uint8Array, seq: number, out: InetListener[]): DumpState {
  const v = new DataView(part.buffer, part.byteOffset, part.length);
  for (let at = 0; at + HEADER <= part.length;) {
    const length = v.getUint32(at, true);
    if (length < HEADER || at + length > part.length) return "error";
    const type = v.getUint16(at + 4, true);
    if (v.getUint32(at + 8, true) === seq) {
      if (type === NLMSG_DONE) return "done";
      if (type === NLMSG_ERROR) return "error";
      if (type !== SOCK_DIAG_BY_FAMILY || length < INET_MESSAGE) return "error";
      const listener = inetListener(v, at + HEADER);
      if (listener) out.push(listener);
    }
    at += (length + 3) & ~3;
  }
  return "more";
}

function inetListener(v: DataView, at: number): InetListener | undefined {
  const family = v.getUint8(at);
  if (v.getUint8(at + 1) !== TCP_LISTEN) return undefined;
  if (family !== AF_INET && family !== AF_INET6) return undefined;
  const start = v.byteOffset + at + 8;
  return {
    family,
    address: new Uint8Array(v.buffer.slice(start, start + (family === AF_INET ? 4 : 16))),
    port: v.getUint16(at + 4, false),
    inode: v.getUint32(at + 68, true),
    queued: v.getUint32(at + 56, true),
  };
}
