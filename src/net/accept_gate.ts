// A listener on an inherited socket that can stop and start accepting. node:net has no pause for
// a listening server, and the runtimes' own accept loops fail badly when the process runs out of
// fds (Deno's stops for good, Bun's spins) without telling JavaScript. So the gate listens on a
// duplicate of the fd and closes that duplicate to stop: connections then wait in the kernel's
// queue, where another worker may take them, until the gate listens again.

import net from "node:net";
import type { Server, Socket } from "node:net";
import { setImmediate } from "node:timers";
import type { Libc } from "../runtime/types.ts";
import { AcceptErrors } from "./accept_errors.ts";
import { fdLimit, openFds } from "./fd_usage.ts";
import { socketName } from "./sockaddr.ts";
import { AF_UNIX, F_DUPFD_CLOEXEC, IPPROTO_TCP, TCP_NODELAY } from "./socket_constants.ts";

/** The fd calls the gate needs (the runtime's libc, /proc). */
export interface GateFds {
  dup(fd: number): number;
  /** Whether a connection waits on the listening socket. */
  readable(fd: number): boolean;
  /** fds this process has open, and the most it may (RLIMIT_NOFILE). */
  usage(): { open: number; limit: number };
  /**
   * Sets TCP_NODELAY on a listening socket, which Linux copies to every socket accepted from it;
   * false when it cannot (a unix socket, or no such call).
   */
  noDelay?(fd: number): boolean;
  /**
   * listen(2) again on a listening socket, which only sets its backlog; false when it cannot.
   */
  listen?(fd: number, backlog: number): boolean;
  /** The path a unix listening socket is bound to (getsockname), "" when it has none. */
  unixPath?(fd: number): string;
}

/** GateFds over libc and /proc. */
export function libcFds(libc: Libc): GateFds {
  const limit = fdLimit();
  return {
    // Close-on-exec, as the listener itself: processes the app starts must not inherit it.
    dup: (fd) => libc.fcntl(fd, F_DUPFD_CLOEXEC, 0),
    readable: (fd) => libc.readable(fd),
    usage: () => ({ open: Math.min(openFds(), limit), limit }),
    noDelay: (fd) =>
      libc.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, new Uint8Array(new Int32Array([1]).buffer)) ===
        0,
    listen: (fd, backlog) => libc.listen(fd, backlog) === 0,
    unixPath: (fd) => {
      const name = socketName(libc, fd);
      return name.family === AF_UNIX ? name.path : "";
    },
  };
}

export interface AcceptGateOptions {
  onConnection(socket: Socket): void;
  /** Sockets arrive paused (gthread reads none of their bytes itself). */
  pauseOnConnect?: boolean;
  fds: GateFds;
  /**
   * Says that accepting stopped or started again for lack of fds, or that accepting failed
   * (rate-limited by the gate).
   */
  report(level: "warning" | "info", message: string): void;
  /**
   * listen(2)'s backlog, the one the master listened with. Bun's node:net listens again on the
   * duplicate with its own (511, whatever the options say), which lowers it on the one socket
   * every worker shares; the gate sets this one back (GateFds.listen). None: left as it is.
   */
  backlog?: number;
  /**
   * Connections the worker process holds now, every listener's and thread's: a hold for fds ends
   * at the latest once none are left, whatever the limit. None: only the limit counts.
   */
  connections?(): number;
  /**
   * Whether the fd shortage may be said now (`now`, in ms), at most once every `everyMs` for the
   * whole process: its gates (gthread: each thread's) run out together. None: once per gate.
   */
  claimWarning?(now: number, everyMs: number): boolean;
}

/** Why a gate may be held: fds ran out, the worker is full, or it has more than its share. */
export type HoldReason = "fds" | "full" | "share";

// A connection waiting through this many ticks with nothing accepted means the accept loop stalled.
const STALL_TICKS = 2;
// The fds that must stay free for the app, the logs and a reply: fewer, and accepting stops.
const FD_SPARE = 16;
// Accepting starts again once this many are free, so one closed connection does not flap it...
const FD_RESUME = 2 * FD_SPARE;
// ...or once the process is back within this many of what it held idle: an idle worker may hold
// more than limit - FD_RESUME itself (Deno's gthread threads: docs/architecture.md, "Accepting").
const FD_OVER_IDLE = FD_SPARE / 2;
// fds are counted (/proc/self/fd, ~50 µs) after a batch of accepts only once the idle fds and the
// connections come within this many of the limit: far from it, a connection costs no count.
const FD_NEAR = 4 * FD_SPARE;
// While held for fds, they are counted again after this many connections closed.
const FD_RECOUNT = FD_SPARE / 2;
const WARN_EVERY_MS = 10_000;

export class AcceptGate {
  readonly fd: number;
  /** The socket is a unix socket (known once open() resolved). */
  unix = false;
  /**
   * Accepted sockets come with TCP_NODELAY already (set once on the listener, known once open()
   * resolved): a setNoDelay per connection would be a wasted syscall (about 1 µs).
   */
  noDelay = false;
  /** What the socket is bound to, as node:net reports it (known once open() resolved). */
  address: ReturnType<Server["address"]> = null;
  /**
   * A unix socket's path (known once open() resolved), asked of the socket: node:net does not
   * know it for an inherited fd. "" when it has none, or is no unix socket.
   */
  path = "";
  readonly #options: AcceptGateOptions;
  #server: Server | null = null;
  readonly #holds = new Set<HoldReason>();
  #accepted = 0;
  #seen = 0;
  #waiting = 0;
  #warned = -Infinity;
  /** This hold for fds was said (a WARNING): its end is said too. */
  #said = false;
  /** fds the process held when it last held no connection (at open(), then on ticks). */
  #idleFds = 0;
  /** RLIMIT_NOFILE (known once open() resolved). */
  #limit = Infinity;
  /** A count of the fds after this batch of accepts is due (#afterAccepts). */
  #counting = false;
  /** Connections closed, while held for fds, since the fds were last counted. */
  #freedSince = 0;
  #closed = false;
  readonly #errors: AcceptErrors;

  constructor(fd: number, options: AcceptGateOptions) {
    this.fd = fd;
    this.#options = options;
    this.#errors = new AcceptErrors((message) => options.report("warning", message));
  }

  /** Starts accepting; rejects when the fd cannot be listened on. */
  open(): Promise<void> {
    const { open, limit } = this.#options.fds.usage();
    this.#idleFds = open;
    this.#limit = limit;
    return this.#listen(true);
  }

  /** Whether it accepts right now. */
  get accepting(): boolean {
    return this.#server !== null;
  }

  hold(reason: HoldReason): void {
    if (this.#holds.has(reason)) return;
    this.#holds.add(reason);
    // Not from inside an accept callback: Deno drops the connections it accepted in the same
    // batch when the server closes there (wrk saw them reset).
    setImmediate(() => {
      if (this.#holds.size > 0) this.#stop();
    });
  }

  release(reason: HoldReason): void {
    if (!this.#holds.delete(reason)) return;
    if (this.#holds.size === 0 && !this.#closed) this.#listen(false).catch(() => {});
  }

  /**
   * A connection of the worker closed: while held for fds, accepting starts again as soon as
   * enough are free, not at the next tick (a client that closes after each response brings the
   * next connection at once, and waited up to 750 ms per burst).
   */
  freed(): void {
    if (!this.#holds.has("fds") || this.#closed) return;
    const idle = this.#options.connections?.() === 0;
    // Counted every few closes, not at each (~50 µs): Deno releases a closed socket's fd well
    // before its close is seen here (all fds back while a third of the closes were).
    if (!idle && ++this.#freedSince < FD_RECOUNT) return;
    this.#resumeIfFree(idle);
  }

  /** Called on the server's tick: notices a stalled accept loop and fds running out or back. */
  tick(now: number): void {
    if (this.#closed) return;
    const idle = this.#options.connections?.() === 0;
    if (this.#holds.has("fds")) {
      this.#resumeIfFree(idle);
      return;
    }
    if (this.#server === null) return;
    if (idle) this.#idleFds = this.#options.fds.usage().open;
    if (this.#accepted !== this.#seen || !this.#options.fds.readable(this.fd)) {
      this.#seen = this.#accepted;
      this.#waiting = 0;
      return;
    }
    if (++this.#waiting < STALL_TICKS) return;
    this.#waiting = 0;
    const { open, limit } = this.#options.fds.usage();
    if (open >= limit - FD_SPARE) {
      this.#holdForFds(open, limit, now);
    } else {
      // Stalled with fds to spare (a runtime's accept loop gave up after an error): start afresh.
      this.#stop();
      this.#listen(false).catch(() => {});
    }
  }

  /**
   * After a batch of accepts near the limit: fewer than FD_SPARE fds left, accepting stops now.
   * Deno's accept loop stops for good at EMFILE without a word, so waiting for tick() to see
   * it stalled left the worker idle for two ticks after every burst that filled its fds.
   */
  #afterAccepts(): void {
    this.#counting = false;
    if (this.#server === null || this.#closed) return;
    const { open, limit } = this.#options.fds.usage();
    if (open >= limit - FD_SPARE) return this.#holdForFds(open, limit, Date.now());
    // The batch ended with connections still waiting: the runtime's loop stopped at EMFILE and
    // fds closed since, or more just came. A fresh listener (~30 µs) accepts them either way.
    if (this.#holds.size === 0 && this.#options.fds.readable(this.fd)) {
      this.#stop();
      this.#listen(false).catch(() => {});
    }
  }

  /** Stops accepting for lack of fds; said at most once every WARN_EVERY_MS (per process). */
  #holdForFds(open: number, limit: number, now: number): void {
    if (this.#claimWarning(now)) {
      this.#said = true;
      this.#options.report(
        "warning",
        `Cannot accept connections: too many open files (${open} open, ulimit -n ${limit}); ` +
          "accepting again once some close",
      );
    }
    this.#freedSince = 0;
    // Called outside any accept callback (a tick, after a batch): stopped at once, so that a
    // release that comes before the next setImmediate still listens afresh.
    this.#holds.add("fds");
    this.#stop();
  }

  /** While held for fds: starts accepting again if the process is idle or has enough free. */
  #resumeIfFree(idle: boolean): void {
    const { open, limit } = this.#options.fds.usage();
    if (!idle && open > this.#resumeAt(limit)) {
      this.#freedSince = 0;
      return;
    }
    if (this.#said) {
      this.#options.report("info", `Accepting connections again (${open} of ${limit} fds open)`);
    }
    this.#said = false;
    this.release("fds");
  }

  /**
   * The fds open at which accepting starts again: FD_RESUME free, or close to what the process
   * holds idle when that is more (never closer to the limit than FD_SPARE / 2).
   */
  #resumeAt(limit: number): number {
    return Math.max(
      limit - FD_RESUME,
      Math.min(this.#idleFds + FD_OVER_IDLE, limit - FD_OVER_IDLE),
    );
  }

  #claimWarning(now: number): boolean {
    if (this.#options.claimWarning !== undefined) {
      return this.#options.claimWarning(now, WARN_EVERY_MS);
    }
    if (now - this.#warned < WARN_EVERY_MS) return false;
    this.#warned = now;
    return true;
  }

  /** Stops accepting for good. */
  close(): void {
    this.#closed = true;
    this.#stop();
  }

  #stop(): void {
    const server = this.#server;
    if (server === null) return;
    this.#server = null;
    server.close();
  }

  #listen(first: boolean): Promise<void> {
    if (this.#server !== null) return Promise.resolve();
    const dup = this.#options.fds.dup(this.fd);
    if (dup < 0) {
      // No fd to spare even for the duplicate: wait for fds like any other shortage.
      if (first) return Promise.reject(new Error("cannot duplicate the listening socket"));
      this.#holds.add("fds");
      return Promise.resolve();
    }
    const server = net.createServer({
      allowHalfOpen: true,
      pauseOnConnect: this.#options.pauseOnConnect ?? false,
    });
    this.#server = server;
    server.on("connection", (socket: Socket) => {
      this.#accepted++;
      this.#options.onConnection(socket);
      if (!this.#counting && this.#nearLimit()) {
        this.#counting = true;
        // After the batch, not inside it (see hold()).
        setImmediate(() => this.#afterAccepts());
      }
    });
    return new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => {
        if (this.#server === server) this.#server = null;
        reject(error);
      };
      server.once("error", onError);
      server.listen({ fd: dup, backlog: this.#options.backlog }, () => {
        server.off("error", onError);
        this.#keepBacklog();
        // Accept errors the runtime does report are said (rate-limited), never fatal; tick()
        // sees a loop that stops accepting.
        server.on("error", this.#errors.handle);
        if (first) {
          this.unix = listensOnUnix(server);
          this.noDelay = !this.unix && (this.#options.fds.noDelay?.(this.fd) ?? false);
          this.address = server.address();
          if (this.unix) this.path = this.#options.fds.unixPath?.(this.fd) ?? "";
        }
        if (this.#server !== server) server.close();
        resolve();
      });
      // Bun listens inside listen(): set the backlog back at once, not a tick later, so the queue
      // is never shorter for long (again on "listening", for a runtime that listens later).
      this.#keepBacklog();
    });
  }

  /** Whether the fds held idle and the connections come near the limit (no syscall). */
  #nearLimit(): boolean {
    return this.#idleFds + (this.#options.connections?.() ?? 0) >= this.#limit - FD_NEAR;
  }

  /** Puts back the backlog node:net's listen may have lowered (AcceptGateOptions.backlog). */
  #keepBacklog(): void {
    const backlog = this.#options.backlog;
    if (backlog !== undefined) this.#options.fds.listen?.(this.fd, backlog);
  }
}

/** Whether a listening node:net server is on a unix socket. */
export function listensOnUnix(server: Server): boolean {
  // A unix path shows as a string; an inherited unix fd as null (Deno) or an object
  // without a port (Bun).
  const a = server.address();
  return a === null || typeof a === "string" || typeof a.port !== "number";
}
