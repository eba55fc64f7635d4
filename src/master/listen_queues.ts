// What --metrics-bind and --enable-backlog-metric show of the listen queues: the master's own
// listeners, and under --reuse-port each worker's socket under the address it was bound to.
// A reuse-port worker's listening sockets live as long as it does, so /proc/PID/fd is read
// only until they are all found.

import { isIP } from "node:net";
import { formatAddress } from "../net/bind.ts";
import {
  type InetListener,
  socketInodes,
  tcpListeners,
  tcpListenQueue,
  unixListenQueues,
} from "../net/listen_backlog.ts";
import type { Listener } from "../net/listeners.ts";
import { inetSockaddr } from "../net/sockaddr.ts";
import { AF_INET } from "../net/socket_constants.ts";
import type { Libc } from "../runtime/types.ts";
import type { Backlog } from "./prometheus_text.ts";
import type { WorkerHandle } from "./worker_handle.ts";

/** Where the listen queues are. */
export interface QueueSources {
  /** The master's listening sockets, TCP and unix: each has a backlog to show. */
  listeners: Listener[];
  /** Addresses each worker binds itself (reuse-port mode): each worker's socket has a backlog. */
  reusePort: { host: string; port: number }[];
  libc: Libc;
  /** How TCP listeners are named: https with TLS on, as "Listening at:" names them. */
  scheme?: "http" | "https";
}

/** A worker's own listening socket. */
export interface OwnSocket extends InetListener {
  pid: number;
}

export class ListenQueues {
  // Each reuse-port worker's listening sockets' inodes, once as many as it binds are found.
  readonly #inodes = new WeakMap<WorkerHandle, number[]>();

  /**
   * The listen queues: the master's TCP listeners through TCP_INFO, the rest (unix ones)
   * through sock_diag; reuse-port sockets, which only workers hold, from sock_diag's dump of
   * the listening TCP sockets. Empty when nothing could be measured.
   */
  read(workers: Iterable<WorkerHandle>, sources: QueueSources): Backlog[] {
    const out: Backlog[] = [];
    const others: Listener[] = [];
    for (const listener of sources.listeners) {
      const queued = tcpListenQueue(sources.libc, listener.fd);
      if (queued !== undefined) {
        out.push({ listener: formatAddress(listener.address, sources.scheme), queued });
      } else others.push(listener);
    }
    const unix = unixListenQueues(sources.libc, others.map((l) => l.fd));
    for (const listener of others) {
      const queued = unix.get(listener.fd);
      if (queued !== undefined) {
        out.push({ listener: formatAddress(listener.address, sources.scheme), queued });
      }
    }
    if (sources.reusePort.length === 0) return out;
    const sockets = this.#ownSockets(workers, sources);
    return out.concat(assignSockets(sockets, sources.reusePort, sources.scheme));
  }

  #ownSockets(workers: Iterable<WorkerHandle>, sources: QueueSources): OwnSocket[] {
    const ports = new Set(sources.reusePort.map((a) => a.port));
    const listening = new Map<number, InetListener>();
    for (const socket of tcpListeners(sources.libc) ?? []) {
      if (ports.has(socket.port)) listening.set(socket.inode, socket);
    }
    const own: OwnSocket[] = [];
    if (listening.size === 0) return own;
    for (const worker of workers) {
      let inodes = this.#inodes.get(worker);
      if (!inodes) {
        inodes = [...socketInodes(worker.pid)].filter((inode) => listening.has(inode));
        if (inodes.length >= sources.reusePort.length) this.#inodes.set(worker, inodes);
      }
      for (const inode of inodes) {
        const socket = listening.get(inode);
        if (socket) own.push({ ...socket, pid: worker.pid });
      }
    }
    return own;
  }
}

/**
 * Each worker socket under the one reuse-port address it was bound to: the IP literal equal to
 * its own address (0.0.0.0 and :: are their family's any-address), else a host name on its
 * port. Never under two: two addresses may share a port.
 */
export function assignSockets(
  sockets: OwnSocket[],
  addresses: { host: string; port: number }[],
  scheme?: "http" | "https",
): Backlog[] {
  const keys = addresses.map((a) => (isIP(a.host) ? addressKey(a.host) : undefined));
  const out: Backlog[] = [];
  for (const socket of sockets) {
    const own = `${socket.family}:${socket.address.join(".")}`;
    const onPort = addresses.flatMap((a, i) => (a.port === socket.port ? [i] : []));
    const i = onPort.find((i) => keys[i] === own) ?? onPort.find((i) => keys[i] === undefined);
    if (i === undefined) continue;
    const listener = formatAddress({ kind: "tcp", ...addresses[i] }, scheme);
    out.push({ listener, pid: socket.pid, queued: socket.queued });
  }
  return out;
}

// The family and bytes of an IP literal, as a socket's own address is compared with it.
function addressKey(host: string): string {
  const sa = inetSockaddr(host, 0);
  const family = sa[0] | (sa[1] << 8);
  const bytes = family === AF_INET ? sa.subarray(4, 8) : sa.subarray(8, 24);
  return `${family}:${bytes.join(".")}`;
}
