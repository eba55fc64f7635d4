// appserve's HTTP/1.1 server: a node:net server (the one accept path that works on an inherited fd
// in both Deno and Bun) whose connections speak HTTP through our own parser and writer.

import net from "node:net";
import type { Server, Socket } from "node:net";
import { clearInterval, setInterval } from "node:timers";
import { AcceptErrors } from "../net/accept_errors.ts";
import {
  AcceptGate,
  type AcceptGateOptions,
  type GateFds,
  listensOnUnix,
} from "../net/accept_gate.ts";
import type { Admission } from "../net/admission.ts";
import { Connection, SHUTDOWN_GRACE_MS } from "./connection.ts";
import { noRequestLine } from "./connection_debug.ts";
import type { ServerCore } from "./connection.ts";
import type { HeadLimits } from "./parser.ts";
import { firstBytes, type TlsAcceptor } from "./tls_accept.ts";
import { rawStatusReply } from "./status_reply.ts";
import { encodeHead, refreshDate } from "./response_writer.ts";
import { ConnInfo, unixRemote } from "./fetch_glue.ts";
import type { FetchHandler, HttpOptions, RemoteAddr } from "./types.ts";

/** Options of `createHttpServer`: the shared HttpOptions plus knobs private to this layer. */
export interface HttpServerOptions extends HttpOptions {
  /**
   * Seconds a client gets to send a complete request head: a fresh connection's first one counted
   * from accept (a connection that sends nothing is closed then, said at DEBUG), a later one from
   * its first byte. Independent of keepAlive, so a slowloris client is cut off either way.
   * @default 30
   */
  headerTimeout?: number;
  /**
   * Where a listener's accept errors are said (rate-limited) when it is not an inherited fd's
   * gate, whose `report` says them. None: they are dropped (the listener keeps accepting).
   */
  onAcceptError?(message: string): void;
  /** Serve HTTPS: every accepted connection is wrapped by this acceptor. */
  tls?: TlsAcceptor;
  /**
   * listen(2)'s backlog (the `backlog` setting). Bun's node:net listens again on an inherited fd,
   * with 511 whatever it is told, on the one kernel socket every worker shares: the gate sets
   * this back (AcceptGateOptions.backlog). @default the runtime's (511 or so)
   */
  backlog?: number;
  /**
   * Listen on an inherited fd through an AcceptGate, which can stop accepting (the worker is
   * full, has more than its share, or ran out of fds) and recovers a stalled accept loop.
   */
  gate?: Pick<AcceptGateOptions, "connections" | "claimWarning"> & {
    fds: GateFds;
    /** The worker's count of connections, shared by its listeners. */
    admission: Admission;
    report(level: "warning" | "info", message: string): void;
    /**
     * Offered each connection before this server takes it (gthread: a sibling thread with fewer
     * may get it); true when it went elsewhere. The socket arrives paused, unread.
     */
    divert?(socket: Socket, unix: boolean): boolean;
  };
}

/** Where to listen: an inherited fd, a TCP address, or a unix socket path. */
export type ListenTarget =
  | { fd: number }
  | { port: number; host: string; reusePort?: boolean }
  | { path: string };

/** The bound address: TCP host and port, or a unix socket path ("" for an inherited unix fd). */
export type BoundAddress =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

export interface HttpServer {
  /** Starts accepting; resolves once listening. */
  listen(target: ListenTarget): Promise<void>;
  /**
   * Graceful: stops accepting, closes idle keep-alive connections at once, lets in-flight requests
   * finish (their responses carry `connection: close`), resolves when every connection is gone.
   */
  close(): Promise<void>;
  /**
   * Destroys the listener and every connection now, but for one whose request's answer had not
   * begun: that gets a 504 first, and the promise settles once those are closed (within
   * CUT_OFF_WRITE_MS). The requests it cuts off get no access line from the HTTP layer: the
   * caller says what became of them (logCutOff).
   */
  closeNow(): Promise<void>;
  /**
   * A quick stop: each response under way whose head went out is ended now and logged as its
   * client got it (Connection.cutUnderWay); the rest is left as it is, for the process's end.
   */
  cutUnderWay(): void;
  /**
   * A quick stop: closes now each connection waiting for a request a close loses
   * (Connection.awaiting: its first one, or one whose head came in part), and counts them; its
   * client gets no answer and no access line names it. Parked ones are the watch's to name.
   */
  dropUnparsed(): UnparsedConnections;
  /**
   * Serves a connection accepted elsewhere (gthread: by the worker process);
   * `unix` says whether it came from a unix socket. For a server that never listens.
   */
  adopt(socket: Socket, unix: boolean): void;
  /** Requests handed to the app whose response is not fully written yet. */
  readonly inFlight: number;
  /** Open client connections. */
  readonly connections: number;
  /** The address listened on, or null before `listen` resolves. */
  address(): BoundAddress | null;
}

/** What a quick stop closed with no request read (HttpServer.dropUnparsed). */
export interface UnparsedConnections {
  connections: number;
  /** Of those, the ones part of whose request (its head, a TLS handshake) had come. */
  partial: number;
}

/** Adds `some` (none: nothing) into `into`: a quick stop counts them over servers and threads. */
export function addUnparsed(into: UnparsedConnections, some?: UnparsedConnections | void): void {
  if (!some) return;
  into.connections += some.connections;
  into.partial += some.partial;
}

const DEFAULT_HEADER_TIMEOUT = 30;
/**
 * At the graceful timeout, how long the 504s of requests cut off may take to go out: a client that
 * reads nothing must not bring the worker near the master's SIGKILL, 1 s later (STOP_MARGIN_MS).
 */
export const CUT_OFF_WRITE_MS = 250;
// The clock that drives timeouts and the Date header; keep-alive is accurate to about this.
const TICK_MS = 250;
/** A tick this much after the last one found the event loop standing still in between. */
const LATE_TICK_MS = 2 * TICK_MS;

/** How long a plain request on a TLS listener is read after its 400, before the close. */
const PLAIN_LINGER_MS = 2000;

/** A parked connection: whether it is unread, what takes it out of the wait, its watch tag. */
interface Parking {
  unread: boolean;
  left: () => void;
  cancel: () => void;
  tag: number;
}

class Core implements ServerCore {
  readonly handler: FetchHandler;
  readonly options: HttpServerOptions;
  readonly limits: HeadLimits;
  readonly keepAliveMs: number;
  readonly headerTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly server: Server;
  /** How an inherited fd is listened on (HttpServerOptions.gate), and the gate once it is. */
  readonly gating: HttpServerOptions["gate"];
  gate: AcceptGate | null = null;
  readonly conns = new Set<Connection>();
  /** TLS connections whose first bytes have not come yet, with when they must have. */
  private readonly greeting = new Map<Socket, number>();
  /** Those of them answered already (refuseRaw), read until their deadline closes them. */
  private readonly refused = new Set<Socket>();
  /** Connections accepted past the limit, waiting for room (park()). */
  private readonly parked = new Map<Socket, Parking>();
  readonly tls: TlsAcceptor | undefined;
  unix = false;
  /** On a unix socket, its peers' remoteAddr (the listener's path), made once: setListener(). */
  unixPeer: RemoteAddr | null = null;
  now = Date.now();
  closing = false;
  forced = false;
  inFlight = 0;
  private second = 0;
  private ticker: ReturnType<typeof setInterval> | null = null;
  private waiters: (() => void)[] = [];
  private readonly acceptErrors: AcceptErrors;

  constructor(handler: FetchHandler, options: HttpServerOptions) {
    this.handler = handler;
    this.options = options;
    this.limits = {
      limitRequestLine: options.limitRequestLine,
      limitRequestFields: options.limitRequestFields,
      limitRequestFieldSize: options.limitRequestFieldSize,
      headerMap: options.headerMap,
    };
    this.keepAliveMs = Math.max(0, options.keepAlive) * 1000;
    this.headerTimeoutMs = (options.headerTimeout ?? DEFAULT_HEADER_TIMEOUT) * 1000;
    this.bodyTimeoutMs = (options.bodyTimeout ?? DEFAULT_HEADER_TIMEOUT) * 1000;
    this.tls = options.tls;
    this.gating = options.gate;
    this.server = net.createServer({ allowHalfOpen: true });
    this.server.on("connection", (socket: Socket) => this.accept(socket));
    this.acceptErrors = new AcceptErrors(options.onAcceptError ?? (() => {}));
  }

  // The caller found it a place (gthread: src/worker/handoff_waits.ts): a second look could see a
  // sibling's count move and park a socket that can no longer be handed on.
  adopt(socket: Socket, unix: boolean): void {
    // A gthread thread's server listened on the connection's listener: its path is known there.
    if (unix !== this.unix || (unix && this.unixPeer === null)) this.setListener(unix, "");
    this.startTicker();
    if (this.gate !== null) this.gating!.admission.opened();
    this.serve(socket, false);
  }

  // A socket accepted while closing was already queued before the listener closed: it gets
  // its request answered (with connection: close) rather than a reset. `paused`: it came unread
  // (a gthread thread's), and is resumed once served.
  private accept(socket: Socket, paused = false): void {
    if (this.gate !== null) {
      const admission = this.gating!.admission;
      if (!this.closing && !admission.room) return this.park(socket, paused);
      admission.opened();
    }
    this.serve(socket, paused);
  }

  /** Serves a connection that has its place (counted open already). */
  private serve(socket: Socket, paused: boolean): void {
    if (paused) socket.resume();
    // Nagle only concerns TCP, and a gate's listener may have set it for every socket already.
    if (!this.unix && !this.gate?.noDelay) socket.setNoDelay(true);
    if (this.tls === undefined) return this.connect(new Connection(socket, this));
    const tls = this.tls;
    const gone = () => {
      this.refused.delete(socket);
      if (this.greeting.delete(socket)) this.settleSocket();
    };
    this.greeting.set(socket, this.now + this.headerTimeoutMs);
    socket.once("close", gone);
    socket.on("error", () => {});
    firstBytes(socket, this.options.proxyProtocol ?? "off", (greeting) => {
      if (greeting.kind === "plain") {
        return this.refuseRaw(socket, 400, "plain HTTP request sent to an HTTPS port");
      }
      if (greeting.kind === "bad") {
        return this.refuseRaw(socket, greeting.error.status, greeting.error.message);
      }
      const header = greeting.proxy;
      if (header !== undefined && !this.proxyAllowed(socket)) {
        return this.refuseRaw(socket, 403, "PROXY header from a peer not in proxy_allow_ips");
      }
      const deadline = this.greeting.get(socket);
      if (deadline === undefined) return;
      this.greeting.delete(socket);
      socket.off("close", gone);
      // The peer's address is read from the TCP socket: a TLS wrapper may not report it. The
      // wrapper resumes the socket itself (resumed here, Deno's would never read it).
      const connection = new Connection(tls.wrap(socket), this, socket, header);
      // The handshake has what is left of the wait for a first request, not a fresh one: a
      // silent client then one byte would otherwise hold the connection twice as long.
      connection.deadline = deadline;
      this.connect(connection);
    });
  }

  /**
   * Keeps a connection accepted past worker_connections unread until one closes (Admission.wait):
   * to its client it waits as in the listen queue. An unread one may still go to a sibling
   * thread with room (gthread), on each tick.
   */
  private park(socket: Socket, unread: boolean): void {
    socket.pause();
    // Counted open (admission.opened()) once admitted.
    let placed = false;
    const left = () => {
      if (!this.parked.delete(socket)) return;
      parking.cancel();
      this.options.watch?.unparked?.(parking.tag);
      this.settle(null);
    };
    const parking: Parking = {
      unread,
      left,
      tag: -1,
      // Admitted: served without a second look at the room, which a sibling thread's count can
      // take back meanwhile; parked again, a socket already read (a handed one: Bun's reads
      // even paused) would pass for unread and lose its bytes on its way to a sibling.
      cancel: this.gating!.admission.wait(() => {
        this.parked.delete(socket);
        socket.off("close", left);
        if (!this.stillOurs(socket, parking)) return;
        this.gating!.admission.opened();
        placed = true;
        this.serve(socket, true);
      }, (error) => {
        this.gating!.report("warning", `A waiting connection could not be served: ${error}`);
        // Its place is given back here unless what serve() made of it holds it (and gives it
        // back on its close).
        const held = this.greeting.has(socket) || this.holds(socket);
        socket.destroy();
        if (placed && !held) this.gating!.admission.closed(false, false);
      }),
    };
    this.parked.set(socket, parking);
    socket.once("close", left);
    socket.on("error", () => {});
    // Shown after `left` listens: under Deno the fd shown is a duplicate closed on the socket's
    // close, which must come after unparked() saw the process done with it.
    parking.tag = this.options.watch?.parked?.(socket) ?? -1;
  }

  /**
   * Takes a parked connection back from the watch as it leaves the wait: false when the watch
   * answered it meanwhile (gthread: the process, for a thread it gave up on), and then it is
   * closed here, the socket's fd being this server's.
   */
  private stillOurs(socket: Socket, parking: Parking): boolean {
    if (this.options.watch?.unparked?.(parking.tag) ?? true) return true;
    this.unparked(socket, parking);
    socket.destroy();
    this.settle(null);
    return false;
  }

  /** Parked connections go elsewhere if they can, at once if the server is closing. */
  private unpark(): void {
    const divert = this.gating?.divert;
    for (const [socket, parking] of this.parked) {
      if (this.closing) {
        this.unparked(socket, parking);
        if (this.stillOurs(socket, parking)) this.accept(socket, true);
      } else if (parking.unread && divert !== undefined) {
        // Taken back from the watch first: one handed on is no longer answered for this thread.
        if (!this.stillOurs(socket, parking)) continue;
        if (divert(socket, this.unix)) this.unparked(socket, parking);
        else parking.tag = this.options.watch?.parked?.(socket) ?? -1;
      }
    }
  }

  private unparked(socket: Socket, parking: Parking): void {
    parking.cancel();
    this.parked.delete(socket);
    socket.off("close", parking.left);
  }

  private proxyAllowed(socket: Socket): boolean {
    const allow = this.options.proxyAllow;
    const peer = new ConnInfo(socket, this.unixPeer).remoteAddr;
    return allow !== undefined &&
      (peer.transport === "unix" ? allow.unix : allow.matches(peer.hostname));
  }

  /** Whether a Connection serves plain `socket` (its settle() then gives its place back). */
  private holds(socket: Socket): boolean {
    for (const conn of this.conns) if (conn.socket === socket) return true;
    return false;
  }

  private connect(conn: Connection): void {
    this.conns.add(conn);
    if (this.closing) conn.shutdown();
  }

  // What cannot start TLS on a TLS listener (plain HTTP, a bad PROXY header): said to the client
  // in plain text (as nginx says it) and in the log, closed.
  private refuseRaw(socket: Socket, status: number, message: string): void {
    const remote = new ConnInfo(socket, this.unixPeer).remoteAddr;
    try {
      this.options.onBadRequest?.(status, message, remote);
    } catch { /* a logging hook must not take the connection down */ }
    socket.end(encodeHead(rawStatusReply(status, message), null));
    this.greeting.set(socket, this.now + PLAIN_LINGER_MS);
    this.refused.add(socket);
    // Its request is read and dropped, so that no RST eats the reply; the deadline closes it.
    socket.on("data", () => {});
    socket.resume();
  }

  // A connection that never became a Connection closed: the admission and close() are told.
  private settleSocket(): void {
    if (this.gate !== null) this.gating!.admission.closed(false, false);
    this.settle(null);
  }

  startTicker(): void {
    if (this.ticker !== null) return;
    this.tick();
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
  }

  private tick(): void {
    const now = Date.now();
    // The loop stood still since the last tick (a loaded box, a paused process): what clients sent
    // meanwhile waits unread in their sockets, and a deadline enforced before it is read closes a
    // connection whose request is there (nginx: "Connection reset by peer"). Each deadline such a
    // tick finds passed waits one tick more, once, so a loop late on every tick still enforces it.
    const late = now - this.now > LATE_TICK_MS;
    this.now = now;
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      refreshDate(now);
    }
    for (const [socket, deadline] of this.greeting) {
      if (deadline > now) continue;
      // As a plain connection that never sent a request (Connection.timeout).
      const debug = this.options.onDebug;
      if (debug !== undefined && !this.refused.has(socket)) {
        debug(noRequestLine(new ConnInfo(socket, this.unixPeer).remoteAddr, this));
      }
      socket.destroy();
    }
    const gate = this.gate;
    for (const c of this.conns) {
      if (c.deadline > now) {
        if (gate !== null && !c.kept) c.lasting();
      } else if (late && c.spared !== c.deadline) c.spared = c.deadline;
      else c.timeout();
    }
    if (gate !== null) {
      if (this.parked.size > 0) this.unpark();
      gate.tick(now);
      // A sibling's count may have fallen while nothing opened or closed here.
      this.gating!.admission.beat();
    }
  }

  settle(conn: Connection | null): void {
    if (conn !== null && this.conns.delete(conn) && this.gate !== null) {
      this.gating!.admission.closed(conn.leaving, conn.kept);
    }
    if (
      this.closing && this.conns.size === 0 && this.greeting.size === 0 && this.parked.size === 0 &&
      (this.inFlight === 0 || this.forced)
    ) {
      if (this.ticker !== null) {
        clearInterval(this.ticker);
        this.ticker = null;
      }
      const w = this.waiters;
      this.waiters = [];
      for (const resolve of w) resolve();
    }
  }

  close(): Promise<void> {
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    if (!this.closing) {
      this.closing = true;
      this.stopListening();
      for (const c of this.conns) c.shutdown();
      // Accepted before the listener closed: answered (with connection: close), not dropped.
      this.unpark();
      // Like an idle connection: a short grace for what the client already sent.
      const grace = this.now + SHUTDOWN_GRACE_MS;
      for (const [socket, deadline] of this.greeting) {
        this.greeting.set(socket, Math.min(deadline, grace));
      }
    }
    this.settle(null);
    return done;
  }

  closeNow(): Promise<void> {
    this.closing = true;
    this.forced = true;
    this.stopListening();
    const answered: Promise<void>[] = [];
    for (const c of this.conns) {
      const closed = c.cut();
      if (closed !== null) answered.push(closed);
    }
    for (const socket of this.greeting.keys()) socket.destroy();
    for (const [socket, parking] of this.parked) {
      this.unparked(socket, parking);
      // After the watch is done with its fd, if it answered it.
      this.options.watch?.unparked?.(parking.tag);
      socket.destroy();
    }
    this.settle(null);
    if (answered.length === 0) return Promise.resolve();
    // A client that reads nothing (its socket buffer full) does not hold the stop: destroyed.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        for (const c of this.conns) c.destroy();
        resolve();
      }, CUT_OFF_WRITE_MS);
    });
    return Promise.race([Promise.all(answered).then(() => {}), late])
      .finally(() => clearTimeout(timer));
  }

  dropUnparsed(): UnparsedConnections {
    const dropped = { connections: 0, partial: 0 };
    for (const c of this.conns) {
      const awaiting = c.awaiting;
      if (awaiting === null) continue;
      dropped.connections++;
      if (awaiting === "partial") dropped.partial++;
      c.destroy();
    }
    for (const socket of this.greeting.keys()) {
      if (this.refused.has(socket)) continue;
      dropped.connections++;
      socket.destroy();
    }
    return dropped;
  }

  shed(): boolean {
    return this.gate !== null && this.gating!.admission.shed();
  }

  persisted(): void {
    if (this.gate !== null) this.gating!.admission.persisted();
  }

  private stopListening(): void {
    if (this.gate !== null) this.gate.close();
    else this.server.close(() => {});
  }

  private async listenGated(fd: number): Promise<void> {
    const { fds, admission, report, divert, connections, claimWarning } = this.gating!;
    const onConnection = divert === undefined ? (s: Socket) => this.accept(s) : (s: Socket) => {
      if (divert(s, gate.unix)) return;
      this.accept(s, true);
    };
    const gate = new AcceptGate(fd, {
      onConnection,
      pauseOnConnect: divert !== undefined,
      fds,
      report,
      backlog: this.options.backlog,
      // Parked connections hold their fds too.
      connections: connections ?? (() => admission.open + admission.waiting),
      claimWarning,
    });
    await gate.open();
    this.gate = gate;
    admission.add(gate);
    this.setListener(gate.unix, gate.path);
    this.startTicker();
  }

  listen(target: ListenTarget): Promise<void> {
    if ("fd" in target && this.gating !== undefined) return this.listenGated(target.fd);
    const server = this.server;
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        server.off("listening", onListening);
        reject(err);
      };
      const onListening = () => {
        server.off("error", onError);
        // Accept errors (EMFILE...) are said, rate-limited; the listener keeps going.
        server.on("error", this.acceptErrors.handle);
        const a = server.address();
        this.setListener(listensOnUnix(server), typeof a === "string" ? a : "");
        this.startTicker();
        resolve();
      };
      server.once("error", onError);
      server.once("listening", onListening);
      const backlog = this.options.backlog;
      if ("fd" in target) server.listen({ fd: target.fd, backlog });
      else if ("path" in target) server.listen({ path: target.path, backlog });
      else if (target.reusePort) {
        // reusePort is newer than the typings of every runtime; pass it through untyped.
        server.listen(
          { port: target.port, host: target.host, backlog, reusePort: true } as net.ListenOptions,
        );
      } else server.listen({ port: target.port, host: target.host, backlog });
    });
  }

  /** The listener is a unix socket or not, at `path` ("" when unknown): its peers' remoteAddr. */
  private setListener(unix: boolean, path: string): void {
    this.unix = unix;
    this.unixPeer = unix ? unixRemote(path) : null;
  }

  address(): BoundAddress | null {
    if (this.gate === null && !this.server.listening) return null;
    const a = this.gate !== null ? this.gate.address : this.server.address();
    if (typeof a === "string") return { transport: "unix", path: a };
    // An inherited unix fd: the runtime does not know the path.
    if (this.unix || a === null) return { transport: "unix", path: "" };
    return { transport: "tcp", hostname: a.address, port: a.port };
  }
}

/** Creates an HTTP/1.1 server that answers every request with `handler`. */
export function createHttpServer(handler: FetchHandler, options: HttpServerOptions): HttpServer {
  const core = new Core(handler, options);
  return {
    listen: (target) => core.listen(target),
    close: () => core.close(),
    closeNow: () => core.closeNow(),
    cutUnderWay: () => {
      for (const c of core.conns) c.cutUnderWay();
    },
    dropUnparsed: () => core.dropUnparsed(),
    adopt: (socket, unix) => core.adopt(socket, unix),
    get inFlight() {
      return core.inFlight;
    },
    get connections() {
      return core.conns.size;
    },
    address: () => core.address(),
  };
}
