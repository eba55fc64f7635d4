// --metrics-bind's listening socket (TCP or unix), made through libc as the workers' listeners are, so that
// USR2 can hand it to the new master (APPSERVE_METRICS_FD): both masters answer scrapes during the
// overlap and the new one goes on alone, instead of retrying the bind until the old one exits.
// Close-on-exec, unlike the workers' listeners: no worker is to hold the master's metrics port.

import { ConfigError } from "../errors.ts";
import type { Libc } from "../runtime/types.ts";
import { moveToInheritedRange, openTcpSocket, openUnixSocket, resolveHost } from "./listeners.ts";
import { inetSockaddr } from "./sockaddr.ts";
import {
  EACCES,
  EADDRINUSE,
  F_SETFD,
  FD_CLOEXEC,
  SO_ACCEPTCONN,
  SOL_SOCKET,
} from "./socket_constants.ts";

/** Set in a USR2 child: the fd of its parent's metrics listener. */
export const METRICS_FD_ENV = "APPSERVE_METRICS_FD";

const BACKLOG = 128;

/** The one line `bind` cannot be listened on in, for why. */
function cannotListen(bind: string): (why: string) => ConfigError {
  return (why) => new ConfigError(`--metrics-bind: Cannot listen on "${bind}": ${why}`);
}

/** A failed call's errno as node:http's listen said it. */
function nodeWords(libc: Libc, errno: number): string {
  return errno === EADDRINUSE
    ? "address already in use"
    : errno === EACCES
    ? "permission denied"
    : libc.strerror(errno);
}

/**
 * A listening socket at `host`:`port` (`bind` as given, for the error), close-on-exec, at an fd a
 * USR2 child can be given at the same number; a ConfigError in one line when it cannot.
 */
export async function bindMetricsSocket(
  libc: Libc,
  bind: string,
  host: string,
  port: number,
): Promise<number> {
  let address: string;
  try {
    address = await resolveHost(host);
  } catch {
    throw cannotListen(bind)(`cannot resolve "${host}"`);
  }
  const high = await openTcpSocket(libc, inetSockaddr(address, port), {
    backlog: BACKLOG,
    cannot: (errno) => cannotListen(bind)(nodeWords(libc, errno)),
  });
  libc.fcntl(high, F_SETFD, FD_CLOEXEC);
  return high;
}

/**
 * A listening unix socket at `path` (`bind` as given, for the error), made as node:http's listen
 * made it (the process's umask; a file already there, even a stale one, is "address already in
 * use"), close-on-exec, at an fd a USR2 child can be given at the same number.
 */
export function bindMetricsUnixSocket(libc: Libc, bind: string, path: string): number {
  const high = openUnixSocket(libc, path, {
    backlog: BACKLOG,
    cannot: cannotListen(bind),
    words: (errno) => nodeWords(libc, errno),
  });
  libc.fcntl(high, F_SETFD, FD_CLOEXEC);
  return high;
}

/** What a USR2 child is told of its parent's metrics listener: its fd there, and its --metrics-bind. */
export function describeMetricsSocket(fd: number, bind: string): string {
  return `${fd} ${bind}`;
}

/**
 * The metrics listener a USR2 parent handed over (METRICS_FD_ENV, then removed from `env`) for
 * `bind`, made close-on-exec and moved above the stdio numbers; undefined when none was, or it
 * served another --metrics-bind (closed then), or the fd is no listening socket: the address is
 * then bound afresh.
 */
export function adoptMetricsSocket(
  libc: Libc,
  env: Record<string, string | undefined>,
  bind: string,
): number | undefined {
  const passed = env[METRICS_FD_ENV];
  delete env[METRICS_FD_ENV];
  const match = /^(\d+) (.*)$/s.exec(passed ?? "");
  if (!match) return undefined;
  const fd = Number(match[1]);
  const value = new Uint8Array(4);
  const len = new Uint8Array(new Uint32Array([4]).buffer);
  if (libc.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, value, len) !== 0) return undefined;
  if (new Int32Array(value.buffer)[0] !== 1 || match[2] !== bind) {
    libc.close(fd);
    return undefined;
  }
  // Above the numbers the next USR2 child's stdio mapping writes over, as at bind.
  const high = moveToInheritedRange(libc, fd);
  if (high < 0) return undefined;
  libc.fcntl(high, F_SETFD, FD_CLOEXEC);
  return high;
}

/** Set in a USR2 child: the fd of the flag it sets once it accepts on the listener handed over. */
export const METRICS_ACCEPTS_ENV = "APPSERVE_METRICS_ACCEPTS_FD";

const FLAG_BYTES = 8;

/**
 * A byte shared by a USR2 parent and its child (a memfd, close-on-exec, at an fd a child can be
 * given at the same number): the child sets it once it accepts on the metrics listener, and the
 * parent, stopping, accepts on it until then. Undefined where shared memory cannot be had.
 */
export function createAcceptsFlag(libc: Libc): { fd: number; memory: Uint8Array } | undefined {
  const created = libc.memfd("appserve-metrics-accepts", FLAG_BYTES);
  if (created < 0) return undefined;
  const fd = moveToInheritedRange(libc, created);
  if (fd < 0) {
    libc.close(created);
    return undefined;
  }
  libc.fcntl(fd, F_SETFD, FD_CLOEXEC);
  const memory = libc.mapShared(fd, FLAG_BYTES);
  if (memory === null) {
    libc.close(fd);
    return undefined;
  }
  return { fd, memory };
}

/** The flag a USR2 parent handed over (METRICS_ACCEPTS_ENV, then removed from `env`), mapped. */
export function adoptAcceptsFlag(
  libc: Libc,
  env: Record<string, string | undefined>,
): Uint8Array | undefined {
  const passed = env[METRICS_ACCEPTS_ENV];
  delete env[METRICS_ACCEPTS_ENV];
  if (!/^\d+$/.test(passed ?? "")) return undefined;
  const fd = Number(passed);
  const memory = libc.mapShared(fd, FLAG_BYTES);
  // The map stays when the fd goes; no worker or later child is to hold it.
  libc.close(fd);
  return memory ?? undefined;
}
