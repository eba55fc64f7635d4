// The kernel's word on whether this process still listens on a TCP address: the fds in
// /proc/self/fd whose socket /proc/net/tcp{,6} shows in LISTEN on it. A native server that tells
// no one when its listener has closed (Deno.serve) is stopped and checked through it.

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { Libc } from "./types.ts";

const TCP_LISTEN = "0A";

/**
 * This process's fds of TCP sockets listening on `port` at `hostname` (an IP literal; any other
 * name matches every address on the port). Empty when /proc cannot be read.
 */
export function ownListeningFds(hostname: string, port: number): number[] {
  const wanted = canonical(hostname);
  const inodes = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    // "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ..."
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== TCP_LISTEN) continue;
      const [address, hexPort] = fields[1].split(":");
      if (parseInt(hexPort, 16) !== port) continue;
      if (wanted !== undefined && procAddress(address) !== wanted) continue;
      inodes.add(fields[9]);
    }
  }
  const fds: number[] = [];
  if (inodes.size === 0) return fds;
  let names: string[];
  try {
    names = readdirSync("/proc/self/fd");
  } catch {
    return fds;
  }
  for (const name of names) {
    let link: string;
    try {
      link = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue;
    }
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    if (inode !== undefined && inodes.has(inode)) fds.push(Number(name));
  }
  return fds;
}

const SHUT_RD = 0;

/**
 * Stops this process's listeners on `port` at `hostname`, bar `others` (counted before the server
 * opened its own: shared with other processes, which a shutdown(2) would stop too), in the kernel:
 * they stop listening before this returns, their queues reset. Returns their fds.
 */
export function shutOwnListeners(
  libc: Pick<Libc, "shutdown">,
  hostname: string,
  port: number,
  others: number[],
): number[] {
  const own = ownListeningFds(hostname, port).filter((fd) => !others.includes(fd));
  for (const fd of own) libc.shutdown(fd, SHUT_RD);
  return own;
}

/** An IP literal as URL writes it (IPv6 compressed, in brackets); undefined for another name. */
function canonical(hostname: string): string | undefined {
  const bare = hostname.replace(/^\[(.*)\]$/, "$1");
  const literal = /^[\d.]+$/.test(bare) || bare.includes(":");
  if (!literal) return undefined;
  try {
    return new URL(`http://${bare.includes(":") ? `[${bare}]` : bare}/`).hostname;
  } catch {
    return undefined;
  }
}

/** /proc/net/tcp's address (32-bit words in host order, little-endian here) as canonical(). */
function procAddress(hex: string): string | undefined {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) => word.match(/../g)!.map((b) => parseInt(b, 16)).reverse());
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) return undefined;
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return canonical(groups.join(":"));
}
