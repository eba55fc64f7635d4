// Listening sockets handed over by a parent instead of bound here: systemd
// socket activation (LISTEN_FDS/LISTEN_PID) and a USR2 re-exec (APPSERVE_FDS).

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Address } from "./bind.ts";
import { inetSockaddr } from "./sockaddr.ts";
import { inheritFd, type Listener } from "./listeners.ts";
import type { Libc } from "../runtime/types.ts";

/** sd_listen_fds(3): passed descriptors start at 3. */
const SD_LISTEN_FDS_START = 3;
export const REEXEC_FDS_ENV = "APPSERVE_FDS";

/** What a re-exec'd master is told: its inherited fds and what they serve. */
export function encodeReexecFds(listeners: Listener[]): string {
  return JSON.stringify(
    listeners.map((l) => ({
      fd: l.fd,
      address: l.address,
      ownsPath: l.ownsPath,
      activated: l.activated,
    })),
  );
}

/**
 * Adopts inherited listeners, or returns undefined when there are none.
 * `source` says where they came from, for logs and for whether to unlink unix sockets.
 */
export function adoptInherited(
  libc: Libc,
  env: Record<string, string | undefined>,
  pid: number,
): { listeners: Listener[]; source: "systemd" | "reexec" } | undefined {
  const reexec = env[REEXEC_FDS_ENV];
  if (reexec) {
    delete env[REEXEC_FDS_ENV];
    const passed = JSON.parse(reexec) as Pick<
      Listener,
      "fd" | "address" | "ownsPath" | "activated"
    >[];
    const listeners = passed.map(({ fd, address, ownsPath, activated }) => ({
      ...inheritFd(libc, fd),
      address,
      // Still systemd's sockets: a USR2 child names them as its parent did.
      ...(activated ? { activated } : {}),
      // The old master's files (not systemd's) become the new one's to remove once it is
      // promoted; until then the old master serves on them (the arbiter's stop keeps them).
      // A master of an older version says nothing: its unix sockets are its own.
      ownsPath: ownsPath ?? address.kind === "unix",
    }));
    return { listeners, source: "reexec" };
  }
  if (env.LISTEN_FDS && Number(env.LISTEN_PID) === pid) {
    const count = Number(env.LISTEN_FDS);
    // sd_listen_fds_with_names(3): colon-separated, one per fd, in order.
    const names = (env.LISTEN_FDNAMES ?? "").split(":");
    delete env.LISTEN_FDS;
    delete env.LISTEN_PID;
    delete env.LISTEN_FDNAMES;
    const listeners = Array.from({ length: count }, (_, i) => {
      const fd = SD_LISTEN_FDS_START + i;
      const name = names[i];
      return { ...inheritFd(libc, fd), activated: name ? { fd, name } : { fd } };
    });
    return { listeners, source: "systemd" };
  }
  return undefined;
}

/**
 * Which of `addresses` (the binds asked for) are none of the sockets systemd passed: an
 * `fd://N` of a passed fd, or the address of a passed socket, is that socket, not a bind
 * ignored. Addresses compare as bind(2) sees them: `localhost` is each address it resolves to,
 * and `[0:0::1]` is `[::1]`; a name that does not resolve is no passed socket.
 */
export async function notPassed(addresses: Address[], passed: Listener[]): Promise<boolean[]> {
  const sockets = passed.map(({ address }) =>
    address.kind === "tcp" ? tcpKey(address.host, address.port) : ""
  );
  const unserved: boolean[] = [];
  for (const a of addresses) {
    const same = a.kind === "fd"
      ? passed.some(({ activated }) => activated?.fd === a.fd)
      : a.kind === "tcp"
      ? (await hostAddresses(a.host)).some((ip) => sockets.includes(tcpKey(ip, a.port)))
      : passed.some(({ address: l }) => l.kind === "unix" && l.path === a.path);
    unserved.push(!same);
  }
  return unserved;
}

// One spelling per socket address: its sockaddr's bytes.
function tcpKey(host: string, port: number): string {
  try {
    return inetSockaddr(host, port).join(",");
  } catch {
    return `${host}:${port}`;
  }
}

async function hostAddresses(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  try {
    return (await lookup(host, { all: true })).map(({ address }) => address);
  } catch {
    return [];
  }
}
