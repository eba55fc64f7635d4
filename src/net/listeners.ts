// Creates the listening sockets the master owns and every worker inherits
// (gunicorn's model: zero dropped connections while workers come and go).
// Sockets are made through libc so the master never accepts on them itself.

import { lookup } from "node:dns/promises";
import { lchownSync, lstatSync, readFileSync, unlinkSync } from "node:fs";
import { isIP } from "node:net";
import { ConfigError, osReason } from "../errors.ts";
import type { Libc } from "../runtime/types.ts";
import { type Address, formatAddress } from "./bind.ts";
import { inetSockaddr, socketName, UNIX_PATH_MAX, unixSockaddr } from "./sockaddr.ts";
import { ownPortHolder } from "./own_port_holder.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  EACCES,
  EADDRINUSE,
  EAGAIN,
  ECONNREFUSED,
  ENOENT,
  F_DUPFD,
  SO_ACCEPTCONN,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./socket_constants.ts";

/** gunicorn's create_sockets: a TCP address in use is tried this many times, 1 s apart. */
export const BIND_TRIES = 5;
const BIND_RETRY_MS = 1000;
// Where fds a worker inherits go: above every number a child's stdio mapping writes over (its
// four stdio fds, then, under Bun, each passed fd in turn), with room for many listeners.
const FIRST_PRIVATE_FD = 64;
// How low they may go when the open-files limit leaves no room at 64: still above the child's
// stdio and the dozen or so fds passed after it. A limit this low is refused at start
// (src/master/fd_budget.ts), so this is a backstop.
export const LOWEST_PRIVATE_FD = 16;

/** A listening socket: the address it serves (with the real port) and its fd in this process. */
export interface Listener {
  address: Address;
  fd: number;
  /** This process created the unix socket file, so it removes it on exit. */
  ownsPath: boolean;
  /** Passed by systemd: the fd it came as and its LISTEN_FDNAMES name (FileDescriptorName=). */
  activated?: { fd: number; name?: string };
}

/**
 * Removes a unix socket file this process made (or took over): one it bound but does not go on
 * to use, or one it stops serving, is a file nobody else would remove.
 */
export function removeSocketFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone, or not ours to remove: nothing more to do about it.
  }
}

/** The one line a failed socket call at `address` is said in: its errno in strerror's words. */
function cannotListenAt(
  libc: Libc,
  address: Address,
  scheme?: "http" | "https",
): (errno: number) => ConfigError {
  return (errno) =>
    new ConfigError(
      `Cannot listen at ${formatAddress(address, scheme)}: ${libc.strerror(errno)}` +
        privilegedPortHint(address, errno),
    );
}

// The lowest port Linux lets any user bind (net.ipv4.ip_unprivileged_port_start, 1024 unless
// lowered: Docker lowers it to 0 in its containers, Kubernetes does not).
function unprivilegedPortStart(): number {
  try {
    const text = readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8");
    return Number.parseInt(text, 10) || 1024;
  } catch {
    return 1024;
  }
}

// A non-root start on -b 0.0.0.0:80 (a container run as a user) is refused by the kernel with a
// bare EACCES: the way out is said with it.
function privilegedPortHint(address: Address, errno: number): string {
  if (errno !== EACCES || address.kind !== "tcp") return "";
  const start = unprivilegedPortStart();
  if (address.port === 0 || address.port >= start) return "";
  return ` (ports below ${start} need root, which --user then drops, or CAP_NET_BIND_SERVICE: ` +
    `listen on a port from ${start} up and publish it as ${address.port})`;
}

/** How unix sockets are created: gunicorn's umask around the bind, or exact bits and a group. */
export interface OpenListenersOptions {
  /** listen(2)'s backlog. */
  backlog: number;
  /** In force around the bind of a unix socket only (gunicorn's umask). @default 0 */
  umask?: number;
  /** Exact permission bits of the unix sockets (over umask). */
  socketMode?: number;
  /** Group given to the unix sockets. */
  socketGroup?: { gid: number; name: string };
  /**
   * Told each line of a retry of a TCP address in use (gunicorn's ERROR lines). A restart that
   * races the old process's exit then gets its address. @default none: no retry
   */
  retrying?: (line: string) => void;
  /** Ends the retries at once (a stop signal while starting): the bind fails with its reason. */
  signal?: AbortSignal;
  /** How TCP addresses are named in errors: https with TLS on, as "Listening at:". */
  scheme?: "http" | "https";
}

/** How {@linkcode openUnixSocket} makes its socket file, and says why it could not. */
export interface UnixSocketOptions {
  /** listen(2)'s backlog. */
  backlog: number;
  /** The one-line error naming the socket, for why it cannot be had. */
  cannot: (why: string) => Error;
  /** A failed call's errno in words. @default strerror's */
  words?: (errno: number) => string;
  /** The umask in force around the bind. @default the process's */
  umask?: number;
  /** The group the socket file is given once bound (--socket-group). @default none */
  group?: { gid: number; name: string };
  /**
   * A stale socket file at the path (nobody listens) is removed first, anything else there
   * refused in a line of its own ({@linkcode staleSocketAt}). @default off: bind's "in use"
   */
  replaceStale?: boolean;
}

/** How {@linkcode openTcpSocket} sets up its socket, and says why it could not. */
export interface TcpSocketOptions {
  /** SO_REUSEPORT as well as SO_REUSEADDR: as --reuse-port's workers bind. */
  reusePort?: boolean;
  /**
   * listen(2)'s backlog: the socket then listens and is moved above the stdio numbers
   * ({@linkcode moveToInheritedRange}). @default none: the socket is only bound
   */
  backlog?: number;
  /** The one-line error of a failed call, from its errno. */
  cannot: (errno: number) => Error;
  /** Retries of an address in use, in gunicorn's lines naming `address`. @default none: no retry */
  retry?: Pick<OpenListenersOptions, "retrying" | "signal" | "scheme"> & { address: Address };
  /**
   * An address in use: the error to stop with at once, before any retry, when it is one of this
   * process's own sockets that holds it (which no retry frees). @default none
   */
  heldByUs?: (fd: number) => Error | undefined;
}

// A TCP address in use is tried BIND_TRIES times (gunicorn's create_sockets): a failed bind
// leaves the socket unbound, so the same one is tried again. Any other failure is at once.
async function bindTcp(
  libc: Libc,
  fd: number,
  sockaddr: Uint8Array,
  options: TcpSocketOptions,
): Promise<void> {
  for (let attempt = 1;; attempt++) {
    if (libc.bind(fd, sockaddr) === 0) return;
    const errno = libc.errno();
    const ours = errno === EADDRINUSE ? options.heldByUs?.(fd) : undefined;
    if (ours) {
      libc.close(fd);
      throw ours;
    }
    const retry = options.retry;
    if (errno !== EADDRINUSE || !retry?.retrying) {
      libc.close(fd);
      throw options.cannot(errno);
    }
    const where = formatAddress(retry.address, retry.scheme);
    if (attempt === BIND_TRIES) {
      const reason = libc.strerror(EADDRINUSE);
      libc.close(fd);
      throw new ConfigError(
        `Cannot listen at ${where}: ${reason} ` +
          `(tried ${BIND_TRIES} times, 1 s apart)`,
      );
    }
    retry.retrying(`Connection in use: ${where}`);
    retry.retrying("Retrying in 1 second.");
    const signal = retry.signal;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, BIND_RETRY_MS);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
    if (signal?.aborted) {
      libc.close(fd);
      throw new ConfigError(`Cannot listen at ${where}: stopped while retrying`);
    }
  }
}

// Whether something accepts connections on the socket file at `path`. A non-blocking connect
// answers at once: refused means nobody listens ("stale"), no such file that it went meanwhile;
// success or a full backlog means someone does; any other answer is why we cannot tell.
function probeSocket(libc: Libc, path: string): "listening" | "stale" | "gone" {
  const cannotTell = (errno: number) =>
    new ConfigError(
      `Cannot listen at unix:${path}: cannot tell whether another process serves it: ` +
        libc.strerror(errno),
    );
  const fd = libc.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw cannotTell(libc.errno());
  try {
    if (libc.connect(fd, unixSockaddr(path)) === 0) return "listening";
    const errno = libc.errno();
    if (errno === ECONNREFUSED) return "stale";
    if (errno === ENOENT) return "gone";
    if (errno === EAGAIN) return "listening";
    throw cannotTell(errno);
  } finally {
    libc.close(fd);
  }
}

/**
 * Whether a stale socket file (nobody listens) is at the path a unix socket is to be bound
 * at. gunicorn unlinks whatever socket is in the way, which orphans a live master's workers
 * (they keep serving a socket nobody can reach): so a file that is not a socket, a socket
 * something listens on, or one we cannot probe is a ConfigError.
 */
export function staleSocketAt(libc: Libc, path: string): boolean {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return false;
  }
  if (!stat.isSocket()) {
    throw new ConfigError(
      `Cannot listen at unix:${path}: a file that is not a socket is in the way`,
    );
  }
  const found = probeSocket(libc, path);
  if (found === "listening") {
    throw new ConfigError(
      `Cannot listen at unix:${path}: another process is serving this socket ` +
        `(is appserve already running?)`,
    );
  }
  return found === "stale";
}

function removeStaleSocket(libc: Libc, path: string): void {
  if (!staleSocketAt(libc, path)) return;
  try {
    unlinkSync(path);
  } catch (error) {
    // Gone meanwhile is what we wanted; anything else stops the bind anyway, so say why.
    if ((error as { code?: string }).code === "ENOENT") return;
    throw new ConfigError(`Cannot remove the stale socket unix:${path}: ${osReason(error)}`);
  }
}

// The umask is the process's, so it is set around this one call and put back.
function bindUnix(libc: Libc, fd: number, sockaddr: Uint8Array, umask: number | undefined) {
  if (umask === undefined) return libc.bind(fd, sockaddr);
  const previous = libc.umask(umask);
  try {
    return libc.bind(fd, sockaddr);
  } finally {
    libc.umask(previous);
  }
}

function giveToGroup(libc: Libc, fd: number, path: string, group: { gid: number; name: string }) {
  try {
    // The file just bound, never what a symlink put in its place would point to.
    lchownSync(path, -1, group.gid);
  } catch (error) {
    libc.close(fd);
    removeSocketFile(path);
    throw new ConfigError(
      `Cannot give unix:${path} to group ${group.name} (gid ${group.gid}): ${osReason(error)}` +
        ((error as { code?: string }).code === "EPERM"
          ? " (appserve must be root or a member of that group)"
          : ""),
    );
  }
}

/** `host` as bind(2) takes it: an IP address as it is, a name looked up. */
export async function resolveHost(host: string): Promise<string> {
  if (isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch {
    throw new ConfigError(`Cannot listen at ${host}: cannot resolve host name "${host}"`);
  }
}

/**
 * A close-on-exec TCP socket of `sockaddr`'s family with SO_REUSEADDR, bound there; listening and
 * moved above the stdio numbers when `options.backlog` is given. A failed call closes it and
 * throws `options.cannot(errno)`; a bind retried to the end throws the retries' own line.
 */
export async function openTcpSocket(
  libc: Libc,
  sockaddr: Uint8Array,
  options: TcpSocketOptions,
): Promise<number> {
  const family = new DataView(sockaddr.buffer).getUint16(0, true);
  const fd = libc.socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw options.cannot(libc.errno());
  const one = new Uint8Array(new Int32Array([1]).buffer);
  libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one);
  if (options.reusePort) libc.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, one);
  await bindTcp(libc, fd, sockaddr, options);
  if (options.backlog === undefined) return fd;
  const high = libc.listen(fd, options.backlog) === 0 ? moveToInheritedRange(libc, fd) : -1;
  if (high < 0) {
    const errno = libc.errno();
    libc.close(fd);
    throw options.cannot(errno);
  }
  return high;
}

// `-b 0.0.0.0:8080 -b 127.0.0.1:8080`, `-b [::]:8080 -b [::1]:8080`, `-b [::]:8080 -b
// 0.0.0.0:8080` where [::] takes IPv4 too: this start's own socket holds the port, so one line
// naming both, no retries. gunicorn retries its five times, then "Can't connect".
function ownClash(
  libc: Libc,
  fd: number,
  sockaddr: Uint8Array,
  address: Extract<Address, { kind: "tcp" }>,
  opened: Listener[],
  scheme?: "http" | "https",
): ConfigError | undefined {
  const clash = ownPortHolder(libc, fd, sockaddr, opened);
  if (!clash) return undefined;
  const here = formatAddress(address, scheme);
  const there = formatAddress(clash.holder.address, scheme);
  const every = `port ${address.port} on every ${clash.family} address`;
  const line = {
    "same": here === there
      ? `it is given twice; drop one of the two -b`
      : `${there}, bound already by another -b, is the same address; drop one of the two -b`,
    "holder-any": `${there} takes ${every}, bound already by another -b; drop one of the two -b`,
    "wanted-any": `it takes ${every} and ${there} is bound already by another -b; ` +
      `drop one of the two`,
    "holder-dual-stack": `${there} takes IPv4 too (dual-stack); drop one of the two -b`,
    "wanted-dual-stack": `it takes IPv4 too (dual-stack) and ${there} is bound already by ` +
      `another -b; drop one of the two`,
  }[clash.by];
  return new ConfigError(`Cannot listen at ${here}: ${line}`);
}

async function openOne(
  libc: Libc,
  address: Address,
  options: OpenListenersOptions,
  opened: Listener[],
): Promise<Listener> {
  if (address.kind === "fd") return inheritFd(libc, address.fd);
  if (address.kind === "tcp") {
    const sockaddr = inetSockaddr(await resolveHost(address.host), address.port);
    const fd = await openTcpSocket(
      libc,
      sockaddr,
      {
        backlog: options.backlog,
        cannot: cannotListenAt(libc, address, options.scheme),
        heldByUs: (fd) => ownClash(libc, fd, sockaddr, address, opened, options.scheme),
        retry: {
          address,
          retrying: options.retrying,
          signal: options.signal,
          scheme: options.scheme,
        },
      },
    );
    const { port } = socketName(libc, fd);
    return { address: { ...address, port }, fd, ownsPath: false };
  }
  const fd = openUnixSocket(libc, address.path, {
    backlog: options.backlog,
    cannot: (why) => new ConfigError(`Cannot listen at ${formatAddress(address)}: ${why}`),
    umask: options.socketMode !== undefined ? 0o777 & ~options.socketMode : options.umask ?? 0,
    group: options.socketGroup,
    replaceStale: true,
  });
  return { address, fd, ownsPath: true };
}

/**
 * A listening unix socket at `path`, moved above the stdio numbers
 * ({@linkcode moveToInheritedRange}). A failure closes it, removes the file once bound, and
 * throws `options.cannot(why)`.
 */
export function openUnixSocket(libc: Libc, path: string, options: UnixSocketOptions): number {
  if (new TextEncoder().encode(path).length > UNIX_PATH_MAX) {
    throw options.cannot(`path longer than ${UNIX_PATH_MAX} bytes`);
  }
  if (options.replaceStale) removeStaleSocket(libc, path);
  const words = options.words ?? ((errno: number) => libc.strerror(errno));
  const cannot = (fd: number, bound: boolean): Error => {
    const error = options.cannot(words(libc.errno()));
    if (fd >= 0) libc.close(fd);
    if (bound) removeSocketFile(path);
    return error;
  };
  const fd = libc.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw cannot(fd, false);
  if (bindUnix(libc, fd, unixSockaddr(path), options.umask) !== 0) throw cannot(fd, false);
  if (options.group) giveToGroup(libc, fd, path, options.group);
  if (libc.listen(fd, options.backlog) !== 0) throw cannot(fd, true);
  const high = moveToInheritedRange(libc, fd);
  if (high < 0) throw cannot(fd, true);
  return high;
}

// Workers inherit listeners at the same fd number (not through spawn's stdio:
// Deno's spawn clears O_NONBLOCK on stdio fds, and that flag is shared by every
// process holding the socket, which left workers blocked in accept()). So the
// fd is moved above the numbers stdio uses and made inheritable (no CLOEXEC).
function moveHigh(libc: Libc, fd: number, address: Address): number {
  const moved = moveToInheritedRange(libc, fd);
  if (moved >= 0) return moved;
  const error = cannotListenAt(libc, address)(libc.errno());
  libc.close(fd);
  throw error;
}

/**
 * Moves an fd a worker inherits above the numbers a child's stdio mapping writes over;
 * returns the new fd (the old one is closed), or -1 with the old one still open.
 */
export function moveToInheritedRange(libc: Libc, fd: number): number {
  let moved = libc.fcntl(fd, F_DUPFD, FIRST_PRIVATE_FD);
  // No free fd at 64 or above (EINVAL when 64 is at or over the limit, EMFILE when all are
  // taken): the highest free one below, as gunicorn runs under any limit. F_DUPFD gives the
  // lowest free fd from its floor, so floors going down find the highest free one.
  for (let floor = FIRST_PRIVATE_FD - 1; moved < 0 && floor >= LOWEST_PRIVATE_FD; floor--) {
    moved = libc.fcntl(fd, F_DUPFD, floor);
  }
  if (moved >= 0) libc.close(fd);
  return moved;
}

/** The address a socket is bound to, as a bind Address (fd://N when unknown). */
function boundAddress(libc: Libc, fd: number, original: number): Address {
  const name = socketName(libc, fd);
  if (name.family === AF_INET || name.family === AF_INET6) {
    return { kind: "tcp", host: name.host, port: name.port };
  }
  if (name.family === AF_UNIX && name.path) return { kind: "unix", path: name.path };
  return { kind: "fd", fd: original };
}

/** Adopts an already-listening inherited descriptor (fd://N, systemd, USR2). */
export function inheritFd(libc: Libc, fd: number): Listener {
  const value = new Uint8Array(4);
  const len = new Uint8Array(new Uint32Array([4]).buffer);
  const address: Address = { kind: "fd", fd };
  if (libc.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, value, len) !== 0) {
    throw new ConfigError(`Cannot listen at fd://${fd}: ${libc.strerror(libc.errno())}`);
  }
  if (new Int32Array(value.buffer)[0] !== 1) {
    throw new ConfigError(
      `Cannot listen at fd://${fd}: the descriptor is a socket that is not listening`,
    );
  }
  const moved = moveHigh(libc, fd, address);
  return { address: boundAddress(libc, moved, fd), fd: moved, ownsPath: false };
}

/**
 * Opens every address; on any failure closes what was opened and throws a
 * ConfigError naming the address, so nothing is left half-started.
 */
export async function openListeners(
  libc: Libc,
  addresses: Address[],
  options: OpenListenersOptions,
): Promise<Listener[]> {
  const opened: Listener[] = [];
  try {
    for (const address of addresses) opened.push(await openOne(libc, address, options, opened));
  } catch (error) {
    closeListeners(libc, opened);
    throw error;
  }
  return opened;
}

/**
 * --reuse-port: each worker binds its own SO_REUSEPORT listener at these addresses, so the master
 * holds none. It binds one as they will (then closes it), so that a port another process holds
 * gets the shared socket's retries and one-line error before "Listening at", rather than every
 * worker failing to boot. Two of them on one port (a wildcard and an address of it, one address
 * twice, a dual-stack [::] and an IPv4 address) are the shared socket's one line too: with
 * SO_REUSEPORT on both the kernel lets them both bind, and the more specific one silently takes
 * its connections from the other.
 */
export async function probeReusePort(
  libc: Libc,
  addresses: { host: string; port: number }[],
  options: Pick<OpenListenersOptions, "retrying" | "signal" | "scheme">,
): Promise<void> {
  const probed: Listener[] = [];
  try {
    for (const { host, port } of addresses) {
      const address = { kind: "tcp" as const, host, port };
      const sockaddr = inetSockaddr(await resolveHost(host), port);
      const fd = await openTcpSocket(libc, sockaddr, {
        reusePort: true,
        cannot: cannotListenAt(libc, address, options.scheme),
        retry: { address, ...options },
      });
      probed.push({ address, fd, ownsPath: false });
      const clash = ownClash(libc, fd, sockaddr, address, probed.slice(0, -1), options.scheme);
      if (clash) throw clash;
    }
  } finally {
    closeListeners(libc, probed);
  }
}

/** Closes the sockets and removes the unix socket files this process created. */
export function closeListeners(libc: Libc, listeners: Listener[]): void {
  for (const listener of listeners) {
    libc.close(listener.fd);
    if (listener.ownsPath && listener.address.kind === "unix") {
      removeSocketFile(listener.address.path);
    }
  }
}
