// systemd's Type=notify protocol (sd_notify(3)): newline-separated assignments in one datagram
// to the unix socket NOTIFY_SOCKET names. The master says READY=1 once its workers serve,
// RELOADING=1 and READY=1 around a HUP, STOPPING=1, STATUS= with its worker count, MAINPID=
// when a USR2 child takes over, and WATCHDOG=1 from its loop when WATCHDOG_USEC is set.
// Sent through libc (socket, connect, write): neither runtime has unix datagram sockets
// without an unstable flag.

import type { Libc } from "../runtime/types.ts";
import { UNIX_PATH_MAX, unixSockaddr } from "../net/sockaddr.ts";
import { connectDatagram } from "../net/datagram_socket.ts";
import { AF_UNIX } from "../net/socket_constants.ts";

/** The variables of the protocol, removed from the environment workers get. */
export const NOTIFY_ENV = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] as const;

export interface FromEnvOptions {
  /** This process's pid (WATCHDOG_PID names the process the watchdog is for). */
  pid: number;
  /** Says why NOTIFY_SOCKET is not used. */
  warn: (line: string) => void;
}

export class SystemdNotify {
  readonly #libc: Libc;
  readonly #fd: number;
  readonly #path: string;
  /** Half of WATCHDOG_USEC in ms (systemd's advice), 0 without a watchdog. */
  readonly watchdogMs: number;
  #watchdogAt = 0;
  #status = "";

  private constructor(libc: Libc, fd: number, path: string, watchdogMs: number) {
    this.#libc = libc;
    this.#fd = fd;
    this.#path = path;
    this.watchdogMs = watchdogMs;
  }

  /**
   * The notifier NOTIFY_SOCKET asks for (an `@` name is in the abstract namespace), or
   * undefined when it is not set, or names no socket to send to: that is warned of, and the
   * master serves on, as gunicorn's does. The variable leaks into shells and containers that
   * systemd started, where stopping the start would help nobody.
   */
  static fromEnv(
    libc: Libc,
    env: Record<string, string | undefined>,
    options: FromEnvOptions,
  ): SystemdNotify | undefined {
    const path = env.NOTIFY_SOCKET;
    if (!path) return undefined;
    const unheard = "systemd will not hear READY=1 or any other state; serving on without it";
    if ((path[0] !== "/" && path[0] !== "@") || path.length > UNIX_PATH_MAX) {
      options.warn(`NOTIFY_SOCKET: Cannot use "${path}": not a unix socket path; ${unheard}`);
      return undefined;
    }
    const address = unixSockaddr(path);
    if (path[0] === "@") {
      // The abstract namespace: a leading NUL and no terminating one.
      address[2] = 0;
    }
    const sockaddr = path[0] === "@" ? address.subarray(0, address.length - 1) : address;
    const socket = connectDatagram(libc, AF_UNIX, sockaddr);
    if ("failed" in socket) {
      const reason = libc.strerror(socket.errno);
      options.warn(`NOTIFY_SOCKET: Cannot connect to "${path}": ${reason}; ${unheard}`);
      return undefined;
    }
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === options.pid;
    const watchdogMs = forUs && usec > 0 ? Math.max(1, Math.floor(usec / 2000)) : 0;
    return new SystemdNotify(libc, socket.fd, path, watchdogMs);
  }

  /** Sends `state` (assignments, one per line); false when the datagram could not be sent. */
  send(state: string): boolean {
    return this.#libc.write(this.#fd, new TextEncoder().encode(state)) >= 0;
  }

  /** STATUS= with the worker count, when it changed. */
  status(workers: number): void {
    const status = `STATUS=${workers === 1 ? "1 worker" : `${workers} workers`}`;
    if (status === this.#status) return;
    this.#status = status;
    this.send(status);
  }

  /** WATCHDOG=1 when half of WATCHDOG_USEC has passed since the last one. */
  watchdog(now: number): void {
    if (this.watchdogMs === 0 || now - this.#watchdogAt < this.watchdogMs) return;
    this.#watchdogAt = now;
    this.send("WATCHDOG=1");
  }

  /** The socket's path, for messages. */
  get path(): string {
    return this.#path;
  }

  close(): void {
    this.#libc.close(this.#fd);
  }
}
