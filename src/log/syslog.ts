// --log-syslog: gunicorn's syslog lines, `<PRI>gunicorn.PREFIX.error: [PID] message`,
// to a UDP, TCP or unix receiver. Datagrams go out through a non-blocking
// socket written with write(2) (libc FFI), so a line costs one system call and
// a full or absent receiver costs a dropped line, never a wait: node:dgram has
// no unix datagram sockets in either runtime. Streams go through node:net with
// a bounded backlog. A receiver that is down, or behind (full), is warned
// about once per outage; its lines are dropped, counted, and the count is said
// when it is back. UDP knows a receiver is down only from its host's "port
// unreachable" answers, reported one at a time on a later send, and never
// knows it is back: the lines refused are counted as they are reported.

import { connect, isIP, type Socket } from "node:net";
import process from "node:process";
import type { SyslogAddr } from "../config/syslog_addr.ts";
import type { Libc } from "../runtime/types.ts";
import { connectDatagram } from "../net/datagram_socket.ts";
import { inetSockaddr, unixSockaddr } from "../net/sockaddr.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  EAGAIN,
  ECONNREFUSED,
  EMSGSIZE,
  EPROTOTYPE,
} from "../net/socket_constants.ts";

/** Python's SysLogHandler.mapPriority: the error log's levels as syslog severities. */
const SEVERITY = { debug: 7, info: 6, warning: 4, error: 3, critical: 2 } as const;
type Level = keyof typeof SEVERITY;

/** Lines a stream may hold unsent before new ones are dropped. */
const STREAM_BACKLOG_BYTES = 256 * 1024;
/** Waits between attempts to reach a receiver that is down: doubles up to the maximum. */
const RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;
/** A receiver that was behind is said to keep up once it took a line this long after a drop. */
const CAUGHT_UP_MS = 1000;

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

export interface SyslogOptions {
  /** The facility's code (SYSLOG_FACILITIES). */
  facility: number;
  /** The program name's middle: `gunicorn.<prefix>.error`. */
  prefix: string;
  /** The FFI calls datagrams are sent with. */
  libc: Libc;
  /** Hears about a receiver that is down (a warning) or back (info), one line each. */
  onProblem: (message: string, level: "warning" | "info") => void;
}

/** How one kind of socket carries messages. */
interface Transport {
  /** A stream (frames end at a newline) rather than datagrams; known once open. */
  readonly stream: boolean;
  /** Connects; throws an Error when the receiver cannot be reached. */
  open(): Promise<void>;
  /**
   * Sends one framed message, or says why not: "full" (the receiver is behind), "too long" (for
   * one datagram) or the Error that took the receiver away. UDP: "refused" (an earlier message
   * was refused; this one went out), "refused, unsent" (this one too is lost; the socket is fine).
   */
  send(message: Uint8Array): "sent" | "full" | "refused" | "refused, unsent" | "too long" | Error;
  close(): void;
}

/**
 * The syslog destination of one process's Logger. Sending never throws and never waits: while
 * the receiver is down (or a stream's backlog is full) lines are dropped and counted.
 */
export class Syslog {
  readonly #addr: string;
  readonly #transport: Transport;
  readonly #headers: Uint8Array[];
  readonly #accessHeader: Uint8Array;
  readonly #onProblem: SyslogOptions["onProblem"];
  #scratch = new Uint8Array(4096);
  #up = false;
  #closed = false;
  #warned = false;
  #warnedFull = false;
  #warnedLong = false;
  #dropped = 0;
  /** #dropped when the receiver fell behind, and when it last refused a line. */
  #droppedBefore = 0;
  #lastFullAt = 0;
  #retryMs = RETRY_MS;
  #retry: ReturnType<typeof setTimeout> | undefined;

  private constructor(addr: SyslogAddr, transport: Transport, options: SyslogOptions) {
    this.#addr = describe(addr);
    this.#transport = transport;
    this.#onProblem = options.onProblem;
    const head = (severity: number, kind: string) =>
      encoder.encode(`<${options.facility * 8 + severity}>gunicorn.${options.prefix}.${kind}: `);
    this.#headers = [];
    for (const severity of Object.values(SEVERITY)) {
      this.#headers[severity] = head(severity, "error");
    }
    this.#accessHeader = head(SEVERITY.info, "access");
  }

  /**
   * Opens the syslog destination `addr`. A receiver that cannot be reached now is one warning;
   * the returned Syslog drops lines until it can (tried again every 1 s, up to every 30 s).
   */
  static async open(addr: SyslogAddr, options: SyslogOptions): Promise<Syslog> {
    const syslog = new Syslog(addr, transportFor(addr, options.libc), options);
    await syslog.#connect();
    return syslog;
  }

  /** Lines dropped since start: the receiver was down or full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** One error-log message (syslog_fmt's `[PID] message`), at the level's severity. */
  error(level: Level, message: string): void {
    const header = this.#headers[SEVERITY[level]];
    // A stream's frames end at a newline, so one inside a message is written as rsyslog does.
    const text = this.#transport.stream ? message.replaceAll("\n", "#012") : message;
    const body = encoder.encode(text);
    this.#send(header, body, 0, body.length);
  }

  /** A batch of access lines, each ended by a newline, each sent with `prefix` (`[PID] `). */
  access(batch: Uint8Array, prefix: Uint8Array): void {
    let start = 0;
    for (let end = batch.indexOf(NEWLINE); end !== -1; end = batch.indexOf(NEWLINE, start)) {
      this.#send(this.#accessHeader, batch, start, end, prefix);
      start = end + 1;
    }
  }

  /** Stops sending; closes the socket. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#transport.close();
  }

  #send(header: Uint8Array, body: Uint8Array, from: number, to: number, prefix?: Uint8Array) {
    if (!this.#up) {
      this.#dropped++;
      return;
    }
    const stream = this.#transport.stream;
    const length = header.length + (prefix?.length ?? 0) + (to - from) + (stream ? 1 : 0);
    if (this.#scratch.length < length) this.#scratch = new Uint8Array(length * 2);
    const out = this.#scratch;
    out.set(header);
    let at = header.length;
    if (prefix) {
      out.set(prefix, at);
      at += prefix.length;
    }
    out.set(body.subarray(from, to), at);
    at += to - from;
    if (stream) out[at++] = NEWLINE;
    const result = this.#transport.send(out.subarray(0, at));
    if (result === "sent") {
      if (this.#warnedFull) this.#caughtUp();
      return;
    }
    // The earlier line the receiving host refused (this one went out, or is counted below).
    if (result === "refused" || result === "refused, unsent") {
      this.#dropped++;
      this.#refused();
      if (result === "refused") return;
    }
    this.#dropped++;
    if (result instanceof Error) return this.#down(result);
    if (result === "too long") {
      if (this.#warnedLong) return;
      this.#warnedLong = true;
      this.#onProblem(
        `syslog: a message of ${at} bytes is too long for a datagram to ${this.#addr}; such lines are dropped`,
        "warning",
      );
      return;
    }
    if (result === "refused, unsent") return;
    this.#lastFullAt = performance.now();
    if (this.#warnedFull) return;
    this.#warnedFull = true;
    this.#droppedBefore = this.#dropped - 1;
    this.#onProblem(
      `syslog: ${this.#addr} is not keeping up; lines are dropped while it is behind`,
      "warning",
    );
  }

  // UDP says nothing about a receiver that comes back: one warning per process.
  #refused(): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#onProblem(
      `syslog: cannot send to ${this.#addr} (Connection refused); lines are lost`,
      "warning",
    );
  }

  // A receiver that was behind took a line: said once it has taken them for a while, so one
  // that keeps falling behind is a warning and an info line a second at most.
  #caughtUp(): void {
    if (performance.now() - this.#lastFullAt < CAUGHT_UP_MS) return;
    this.#warnedFull = false;
    this.#onProblem(
      `syslog: ${this.#addr} is keeping up again; ${
        this.#dropped - this.#droppedBefore
      } lines dropped while it was behind`,
      "info",
    );
  }

  async #connect(): Promise<void> {
    try {
      await this.#transport.open();
    } catch (error) {
      return this.#down(error as Error);
    }
    if (this.#closed) return this.#transport.close();
    this.#up = true;
    this.#retryMs = RETRY_MS;
    if (this.#warned) {
      this.#warned = false;
      this.#onProblem(
        `syslog: sending to ${this.#addr} again; ${this.#dropped} lines dropped so far`,
        "info",
      );
    }
  }

  // The receiver is gone: say so once, drop lines, and try again later.
  #down(error: Error): void {
    this.#up = false;
    if (this.#closed) return;
    if (!this.#warned) {
      this.#warned = true;
      this.#onProblem(
        `syslog: cannot send to ${this.#addr} (${error.message}); lines are dropped until it answers`,
        "warning",
      );
    }
    if (this.#retry !== undefined) return;
    this.#transport.close();
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.#connect();
    }, this.#retryMs);
    // Retrying must not keep a process alive that is otherwise done.
    (this.#retry as { unref?: () => void }).unref?.();
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
  }
}

function describe(addr: SyslogAddr): string {
  if (addr.transport !== "unix") {
    const host = addr.host.includes(":") ? `[${addr.host}]` : addr.host;
    return `${addr.transport}://${host}:${addr.port}`;
  }
  return `unix://${addr.path}${addr.socket === "either" ? "" : `#${addr.socket}`}`;
}

function transportFor(addr: SyslogAddr, libc: Libc): Transport {
  if (addr.transport !== "unix") {
    if (addr.transport === "tcp") return stream(() => connect(addr.port, addr.host));
    return datagram(libc, true, async () => {
      // node:dns loads only when a name is to be resolved (memory: docs/architecture.md).
      const ip = isIP(addr.host)
        ? addr.host
        : (await (await import("node:dns/promises")).lookup(addr.host)).address;
      return [isIP(ip) === 6 ? AF_INET6 : AF_INET, inetSockaddr(ip, addr.port)];
    });
  }
  const unixStream = stream(() => connect(addr.path));
  if (addr.socket === "stream") return unixStream;
  const unixDatagram = datagram(
    libc,
    false,
    () => Promise.resolve([AF_UNIX, unixSockaddr(addr.path)]),
  );
  if (addr.socket === "dgram") return unixDatagram;
  // gunicorn's (Python's) way with a bare unix:// path: a datagram socket, else a stream.
  let chosen = unixDatagram;
  return {
    get stream() {
      return chosen.stream;
    },
    async open() {
      try {
        chosen = unixDatagram;
        await unixDatagram.open();
      } catch (error) {
        if ((error as { errno?: number }).errno !== EPROTOTYPE) throw error;
        chosen = unixStream;
        await unixStream.open();
      }
    },
    send: (message) => chosen.send(message),
    close: () => chosen.close(),
  };
}

/** A connected non-blocking datagram socket: each send is one write(2). */
function datagram(
  libc: Libc,
  udp: boolean,
  address: () => Promise<[domain: number, sockaddr: Uint8Array]>,
): Transport {
  let fd = -1;
  return {
    stream: false,
    async open() {
      const [domain, sockaddr] = await address();
      const socket = connectDatagram(libc, domain, sockaddr);
      fd = "fd" in socket ? socket.fd : -1;
      if ("failed" in socket) {
        const { failed, errno } = socket;
        throw Object.assign(new Error(`${failed}: ${libc.strerror(errno)}`), { errno });
      }
    },
    send(message) {
      if (libc.write(fd, message) >= 0) return "sent";
      const errno = libc.errno();
      // A receiver whose queue is full: this line is lost, the socket is fine.
      if (errno === EAGAIN) return "full";
      // One message past the socket's limit: that line is lost, the socket is fine.
      if (errno === EMSGSIZE) return "too long";
      // A connected UDP socket reports the ICMP answer to an earlier datagram instead of sending
      // this one (on loopback every other write): the report is cleared, so it is sent again.
      if (udp && errno === ECONNREFUSED) {
        return libc.write(fd, message) >= 0 ? "refused" : "refused, unsent";
      }
      return Object.assign(new Error(libc.strerror(errno)), { errno });
    },
    close() {
      if (fd >= 0) libc.close(fd);
      fd = -1;
    },
  };
}

/** A node:net connection; lines beyond STREAM_BACKLOG_BYTES unsent are dropped. */
function stream(dial: () => Socket): Transport {
  let socket: Socket | undefined;
  let failure: Error | undefined;
  return {
    stream: true,
    open() {
      failure = undefined;
      return new Promise((resolve, reject) => {
        const s = dial();
        socket = s;
        s.once("connect", () => {
          s.off("error", reject);
          // Never keeps the process alive; a receiver's bytes are not read.
          s.unref();
          s.on("error", (error) => (failure = error));
          s.on("close", () => (failure ??= new Error("the receiver closed the connection")));
          resolve();
        });
        s.once("error", reject);
      });
    },
    send(message) {
      if (!socket || failure) return failure ?? new Error("not connected");
      if (socket.writableLength > STREAM_BACKLOG_BYTES) return "full";
      // The caller's buffer is reused at once; the socket may hold this copy.
      socket.write(message.slice());
      return "sent";
    },
    close() {
      socket?.destroy();
      socket = undefined;
    },
  };
}

/** The `[PID] ` of gunicorn's syslog_fmt, once per process. */
export function syslogPidPrefix(pid: number = process.pid): Uint8Array {
  return encoder.encode(`[${pid}] `);
}
