// One accepted socket: parses requests in order, runs the app on each, writes responses, and owns
// the connection's lifetime (keep-alive, header timeout, lingering close, pipelining).

import { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import { BODY_CUT, RequestBody } from "./body.ts";
import type { BodySink } from "./body.ts";
import { Exchange } from "./exchange.ts";
import type { ExchangeHost } from "./exchange.ts";
import {
  buildRequest,
  ConnInfo,
  fetchMethod,
  isBodyless,
  markHttp10,
  PeerInfo,
} from "./fetch_glue.ts";
import { readForwarding, TRUST_NONE, trustOf } from "./forwarded.ts";
import { readProxyHeader } from "./proxy_protocol.ts";
import type { ProxyHeader } from "./proxy_protocol.ts";
import { HeadScanner, parseHead } from "./parser.ts";
import type { HeadLimits, RequestHead } from "./parser.ts";
import { encodeHead, F_HEAD, F_HTTP10, F_KEEP_ALIVE, ResponseWriter } from "./response_writer.ts";
import { bodyTooLargeReason, CONTINUE_REPLY, cutOffReply, rawStatusReply } from "./status_reply.ts";
import {
  type FetchHandler,
  type HttpOptions,
  ParseError,
  type RemoteAddr,
  type ServeInfo,
} from "./types.ts";
import type { PendingUpgrade, Session, SessionEnd } from "./websocket/hub.ts";
import { noRequestLine, socketErrorLine } from "./connection_debug.ts";

/** What every connection of one server shares. */
export interface ServerCore {
  readonly handler: FetchHandler;
  readonly options: HttpOptions;
  readonly limits: HeadLimits;
  readonly keepAliveMs: number;
  readonly headerTimeoutMs: number;
  /** How long a request body may go without a byte while the app waits for it. */
  readonly bodyTimeoutMs: number;
  /** Serving a unix socket: peers have no address. */
  readonly unix: boolean;
  /** On a unix socket, what its peers' remoteAddr is (unixRemote: the listener's path). */
  readonly unixPeer: RemoteAddr | null;
  /** Coarse clock (ms), advanced by the server's tick. */
  readonly now: number;
  /** Graceful shutdown started: finish in-flight requests, then close. */
  readonly closing: boolean;
  /** The worker has more than its share of connections: whether this one should close. */
  shed(): boolean;
  /** A connection stayed open after a response, or became a WebSocket (once per connection). */
  persisted(): void;
  inFlight: number;
  /** A connection is gone, or a request finished. */
  settle(conn: Connection | null): void;
}

const S_HEAD = 0; // waiting for (the rest of) a request head
const S_BUSY = 1; // a request is with the app or its response is being written
const S_CLOSING = 2; // closed our side; discarding input until the peer closes
const S_UPGRADED = 3; // a WebSocket: the socket is ws's until it closes

// After end(), how long input is drained so the peer reads our last response instead of a RST.
const LINGER_MS = 2000;
// Unread request body the server will skip to keep a connection alive; more and it closes.
const DRAIN_LIMIT = 64 * 1024;
/**
 * Once shutdown began, how long a connection with no request under way may take to send one: its
 * next request may already be on the wire, and is answered (with connection: close) instead of
 * being met by a close the client would count as a failure.
 */
export const SHUTDOWN_GRACE_MS = 1000;

// Bytes of later pipelined requests buffered while one is being handled before reading stops.
const PIPELINE_LIMIT = 64 * 1024;

const CONTINUE = Buffer.from(CONTINUE_REPLY, "latin1");
// What a request cut off at the graceful timeout before its answer began gets: the 504 its
// access line says, as a gthread worker answers a stuck thread's (thread_answers.ts).
const CUT_OFF = encodeHead(cutOffReply(), null);
const CUT_OFF_HEAD = encodeHead(cutOffReply(true), null);
const kConn = Symbol("appserve.connection");

type ConnSocket = Socket & { [kConn]: Connection };

// Listeners are shared; the connection hangs off the socket so nothing is allocated per request.
function onData(this: ConnSocket, chunk: Buffer): void {
  this[kConn].onData(chunk);
}
function onEnd(this: ConnSocket): void {
  this[kConn].onEnd();
}
function onClose(this: ConnSocket): void {
  this[kConn].onClose();
}
function onDrain(this: ConnSocket): void {
  this[kConn].writer.drained();
}
function onError(this: ConnSocket, error: Error): void {
  // ECONNRESET, EPIPE and friends: 'close' follows and cleans up; at debug they are said.
  this[kConn].onError(error);
}

/**
 * The connection owns the bytes (what is received and not parsed yet, the request body being
 * fed), the timers (one deadline the server's tick acts on) and keep-alive; each request's state
 * is the Exchange's, and the response's bytes are the writer's.
 */
export class Connection implements ExchangeHost, BodySink {
  readonly socket: Socket;
  /** The TCP socket under `socket` when that is a TLS wrapper, else `socket`. */
  private readonly peerSocket: Socket;
  readonly tag: number;
  readonly writer: ResponseWriter;
  closed = false;
  /** Destroyed by cut() (the server's closeNow), not by the peer or a failed reply. */
  cutOff = false;
  /** The 504 cut() writes, until the connection closed. */
  private cutting: Promise<void> | null = null;
  /** The socket failed (a reset, a broken pipe): the peer's doing, not a close of ours. */
  private peerFailed = false;
  /** When the tick should act on this connection (ms on the core's clock). */
  deadline: number;
  /** A TLS connection whose handshake is not done: its deadline is the greeting's (Core.serve). */
  private handshaking = false;
  /** The deadline a late tick let wait one more tick (Core.tick): each deadline waits once. */
  spared = -1;
  private state = S_HEAD;
  private readonly core: ServerCore;
  /** The connection's client: the socket's peer, or whom a PROXY header named. */
  info: ServeInfo;
  /** The socket's peer (a proxy, when a PROXY header names another client). */
  private readonly peer: RemoteAddr;
  /** How far the peer's forwarding headers are believed (TRUST_* of forwarded.ts). */
  private trusted: number;
  /** A PROXY protocol header may still start the connection. */
  private proxyPending: boolean;
  private readonly exchange: Exchange;
  /** The exchange's `completed`, bound once, for the ServeInfo objects the app gets. */
  private readonly completion: () => Promise<void>;
  private readonly onDrained = (): void => this.afterResponse(true);
  private readonly scanner: HeadScanner;
  /** Received bytes not parsed yet. */
  private pending: Buffer | null = null;
  /** Growable buffer `pending` lives in while a head arrives in pieces (never handed out). */
  private acc: Buffer | null = null;
  private body: RequestBody | null = null;
  private broken = false;
  private parsing = false;
  /** The peer sent its FIN (ExchangeHost.peerEnded). */
  peerEnded = false;
  private pausedBody = false;
  private pausedPipeline = false;
  /** The worker's share balance told this connection to close (ServerCore.shed). */
  leaving = false;
  /** It stayed open after a response (ServerCore.persisted was told). */
  kept = false;
  /** No request came on it yet (dispatch() clears it). */
  private fresh = true;
  /** Ticks in a row that saw an exchange under way while not yet kept (lasting()). */
  private busyTicks = 0;
  /** The body of the current request if it came with `Expect: 100-continue`. */
  private expectBody: RequestBody | null = null;
  /** The WebSocket this connection became, if it did. */
  private session: Session | null = null;

  /** `peer`: the TCP socket under `socket` when that is a TLS wrapper. */
  /**
   * `peer` is the raw socket under a TLS one; `proxied`, a PROXY header read off it before the
   * TLS handshake (from a peer already allowed to send one).
   */
  constructor(
    socket: Socket,
    core: ServerCore,
    peer: Socket = socket,
    proxied?: ProxyHeader & { kind: "header" },
  ) {
    this.socket = socket;
    this.peerSocket = peer;
    this.core = core;
    this.tag = core.options.watch?.opened(peer) ?? -1;
    this.info = new ConnInfo(peer, core.unixPeer, core.options.websocket, core.options.scheme);
    this.peer = this.info.remoteAddr;
    const trust = core.options.forwarded;
    this.trusted = trust === undefined ? TRUST_NONE : trustOf(trust, this.info.remoteAddr);
    this.proxyPending = (core.options.proxyProtocol ?? "off") !== "off" && proxied === undefined;
    const watch = core.options.watch;
    const tag = this.tag;
    this.writer = new ResponseWriter(
      socket,
      core.options,
      watch?.sent === undefined ? undefined : (bytes, status) => watch.sent!(tag, bytes, status),
    );
    this.exchange = new Exchange(this, this.writer, core.handler, core.options);
    this.completion = () => this.exchange.completed();
    (this.info as ConnInfo).completion = this.completion;
    if (proxied !== undefined) this.adoptProxyHeader(proxied);
    this.scanner = new HeadScanner(core.limits);
    this.deadline = core.now + core.headerTimeoutMs;
    if (peer !== socket) {
      this.handshaking = true;
      socket.once("secure", () => this.handshaking = false);
    }
    (socket as ConnSocket)[kConn] = this;
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("close", onClose);
    socket.on("drain", onDrain);
    socket.on("error", onError);
  }

  /** Idle between requests: nothing received of the next one. */
  get idle(): boolean {
    return this.state === S_HEAD && this.pending === null && this.body === null;
  }

  /**
   * Waiting for a request a close would lose: its first one (fresh: its bytes may be unread in
   * the socket yet), or one of which part of the head came ("partial"); none for a connection
   * idle between requests, whose client reckons with a keep-alive close.
   */
  get awaiting(): "fresh" | "partial" | null {
    if (this.closed || this.state !== S_HEAD || this.body !== null) return null;
    if (this.pending !== null || this.handshaking) return "partial";
    return this.fresh ? "fresh" : null;
  }

  onData(chunk: Buffer): void {
    if (this.state === S_CLOSING) return;
    const b = this.body;
    if (b !== null) {
      const used = b.feed(chunk);
      if (used < 0) return this.bodyBroken(b);
      if (b.done) {
        this.body = null;
        if (this.state === S_HEAD && used === chunk.length) {
          this.deadline = this.core.now + this.core.keepAliveMs;
        } else if (this.state === S_BUSY) this.deadline = Infinity;
      } else if (this.state === S_BUSY) this.deadline = this.core.now + this.core.bodyTimeoutMs;
      if (used === chunk.length) return;
      chunk = chunk.subarray(used);
    }
    if (this.pending === null) {
      this.pending = chunk;
      // A next request's head is timed from its first byte; a fresh connection's first one from
      // accept (set there): a silent client then one byte would otherwise hold it twice as long.
      if (this.state === S_HEAD && !this.fresh) {
        this.deadline = this.core.now + this.core.headerTimeoutMs;
      }
    } else {
      this.append(chunk);
    }
    if (this.state === S_HEAD) this.parse();
    else if (this.pending.length > PIPELINE_LIMIT && !this.pausedPipeline) {
      this.pausedPipeline = true;
      this.socket.pause();
    }
  }

  // Appends into a buffer grown geometrically, so a head trickled byte by byte costs O(n).
  private append(chunk: Buffer): void {
    const p = this.pending!;
    const need = p.length + chunk.length;
    let acc = this.acc;
    if (
      acc !== null && p.buffer === acc.buffer && p.byteOffset === acc.byteOffset &&
      need <= acc.length
    ) {
      acc.set(chunk, p.length);
    } else {
      acc = this.acc = Buffer.allocUnsafeSlow(need < 2048 ? 4096 : need * 2);
      acc.set(p, 0);
      acc.set(chunk, p.length);
    }
    this.pending = acc.subarray(0, need);
  }

  private parse(): void {
    // A response that completes synchronously comes back here through afterResponse; the loop
    // further up the stack picks up the next request, so pipelining never deepens the stack.
    if (this.parsing) return;
    if (this.proxyPending && !this.takeProxyHeader()) return;
    this.parsing = true;
    const scanner = this.scanner;
    while (this.state === S_HEAD && this.pending !== null && this.body === null) {
      const buf = this.pending;
      let head: RequestHead;
      let end: number;
      try {
        end = scanner.scan(buf);
        if (end < 0) break;
        head = parseHead(buf, scanner, end);
      } catch (err) {
        this.parsing = false;
        return this.badRequest(err);
      }
      scanner.reset();
      // Bytes in `acc` may now be handed to a body stream: never write into it again.
      this.acc = null;
      this.pending = end < buf.length ? buf.subarray(end) : null;
      this.dispatch(head);
    }
    this.parsing = false;
    if (this.state === S_HEAD && this.peerEnded) this.destroy();
  }

  // The PROXY header, if one starts the connection: names the client. False: not (yet) past it.
  private takeProxyHeader(): boolean {
    const buf = this.pending;
    if (buf === null) return true;
    const options = this.core.options;
    let header: ProxyHeader;
    try {
      header = readProxyHeader(buf, options.proxyProtocol ?? "off");
    } catch (err) {
      this.proxyPending = false;
      this.badRequest(err);
      return false;
    }
    if (header.kind === "more") {
      if (this.peerEnded) this.destroy();
      return false;
    }
    this.proxyPending = false;
    if (header.kind === "none") return true;
    const peer = this.info.remoteAddr;
    const allow = options.proxyAllow;
    const allowed = allow !== undefined &&
      (peer.transport === "unix" ? allow.unix : allow.matches(peer.hostname));
    if (!allowed) {
      this.badRequest(new ParseError(403, "PROXY header from a peer not in proxy_allow_ips"));
      return false;
    }
    this.pending = header.length < buf.length ? buf.subarray(header.length) : null;
    this.adoptProxyHeader(header);
    return true;
  }

  // The client a PROXY header names becomes the connection's.
  private adoptProxyHeader(header: ProxyHeader & { kind: "header" }): void {
    const options = this.core.options;
    if (header.remote !== null) {
      this.info = new PeerInfo(header.remote, options.websocket, this.completion, this.info);
    }
    // Forwarding headers are judged by the client the proxy named, never by the proxy itself.
    const trust = options.forwarded;
    this.trusted = trust === undefined ? TRUST_NONE : trustOf(trust, this.info.remoteAddr);
  }

  private dispatch(head: RequestHead): void {
    const core = this.core;
    const limit = core.options.limitRequestBody ?? 0;
    let body: RequestBody | null = null;
    // A body over the limit before the app could run: answered 413 (and logged) without it.
    let tooLarge = false;
    if (head.chunked || head.contentLength > 0) {
      // Refused on the declared length alone, so nothing of the body is read.
      if (limit > 0 && head.contentLength > limit) tooLarge = true;
      else {
        body = new RequestBody(this, head.contentLength, head.chunked, head.expectContinue, limit);
        this.body = body;
        const p = this.pending;
        if (p !== null) {
          const used = body.feed(p);
          if (used < 0 && !body.tooLarge) return this.badRequest(new ParseError(400, body.reason));
          if (used < 0) tooLarge = true;
          else this.pending = used < p.length ? p.subarray(used) : null;
        }
        if (body.done || tooLarge) this.body = null;
        if (tooLarge) body = null;
      }
    }
    const m = fetchMethod(head.method);
    const bodyless = isBodyless(m);
    if (bodyless && body !== null) body.abandon();
    let request: Request;
    let info = this.info;
    try {
      let scheme = core.options.scheme;
      if (this.trusted !== TRUST_NONE) {
        const f = readForwarding(core.options.forwarded!, head.headers, this.trusted);
        if (f.scheme !== null) scheme = f.scheme;
        if (f.remote !== null) {
          info = new PeerInfo(f.remote, core.options.websocket, this.completion, info);
        }
      }
      request = buildRequest(
        head,
        m,
        body === null || bodyless ? null : body.stream,
        core.options,
        scheme,
      );
    } catch (err) {
      return this.badRequest(err, info);
    }
    this.state = S_BUSY;
    this.fresh = false;
    // While the app waits for a body, the body must keep arriving (a client told to wait for
    // 100 Continue is not timed until it was told to go on).
    this.deadline = body !== null && !body.done && !head.expectContinue
      ? core.now + core.bodyTimeoutMs
      : Infinity;
    core.inFlight++;
    let flags = 0;
    if (head.minor === 0) {
      flags = F_HTTP10;
      markHttp10(request);
    }
    if (m === "HEAD") flags |= F_HEAD;
    if (head.keepAlive) flags |= F_KEEP_ALIVE;
    if (body !== null && head.expectContinue) this.expectBody = body;
    if (tooLarge) {
      // The body's bytes are not read: the connection closes after the answer.
      this.broken = true;
      const reason = bodyTooLargeReason(limit);
      this.warn(413, reason, info);
      return this.exchange.startRefused(request, flags, head, info, 413, reason);
    }
    if (head.upgrade) core.options.websocket?.offer(request);
    this.exchange.start(request, flags, head, info);
  }

  exchangeDone(keep: boolean): void {
    this.expectBody = null;
    this.core.inFlight--;
    this.afterResponse(keep);
    this.core.settle(null);
  }

  /**
   * The app upgraded the request: the socket, with the bytes read past its head, goes to the
   * WebSocket handshake. The connection stays counted (worker_connections) until the socket
   * closes; only its close and error listeners stay.
   */
  upgrade(
    pending: PendingUpgrade,
    head: RequestHead,
    info: ServeInfo,
    ended: (end: SessionEnd) => void,
  ): void {
    const core = this.core;
    this.expectBody = null;
    core.inFlight--;
    this.state = S_UPGRADED;
    this.deadline = Infinity;
    const socket = this.socket;
    socket.off("data", onData);
    socket.off("end", onEnd);
    socket.off("drain", onDrain);
    const b = this.body;
    if (b !== null) {
      this.body = null;
      b.abandon();
    }
    const rest = this.pending;
    this.pending = this.acc = null;
    if (this.pausedBody || this.pausedPipeline) {
      this.pausedBody = this.pausedPipeline = false;
      socket.resume();
    }
    this.persist();
    // Bun's ws.remoteAddress: the client as the app saw it (a trusted proxy's word included).
    const remote = info.remoteAddr.hostname;
    this.session = core.options.websocket!.complete(pending, head, socket, rest, remote, ended);
    if (core.closing) this.session.goingAway();
    core.settle(null);
  }

  // Whether, right now, the connection can carry another request after this response.
  mayKeepAlive(): boolean {
    const core = this.core;
    if (core.closing || core.keepAliveMs <= 0 || this.broken) return false;
    // After a half-close only requests already received (pipelined) are still answered.
    if (this.peerEnded && this.pending === null) return false;
    const b = this.body;
    if (b === null || b.done) return !this.shedding();
    // A client told to wait for 100 Continue may never send the body: nothing to skip reliably.
    if (this.expectBody === b && !b.continueSent) return false;
    return b.remaining >= 0 && b.remaining <= DRAIN_LIMIT && !b.failed &&
      !this.shedding();
  }

  // Whether the connection closes after this response to move to a sibling worker (this one
  // has more than its share). Never drops requests already pipelined; asks the balance once,
  // and only for a connection that was kept alive before (the share counts only those).
  private shedding(): boolean {
    if (this.pending !== null || !this.kept) return false;
    if (!this.leaving) this.leaving = this.core.shed();
    return this.leaving;
  }

  /**
   * The server's tick, while the connection is not kept: an exchange under way at two ticks in a
   * row (250–500 ms or more: a stream, a long poll, a slow upload or app) makes it count for the
   * share like a kept-alive one.
   */
  lasting(): void {
    if (this.state !== S_BUSY) this.busyTicks = 0;
    else if (++this.busyTicks >= 2) this.persist();
  }

  private persist(): void {
    if (this.kept) return;
    this.kept = true;
    this.core.persisted();
  }

  private afterResponse(keep: boolean): void {
    if (this.closed) return;
    if (!keep) return this.finish();
    this.persist();
    if (this.socket.writableNeedDrain) {
      // The client is not reading our answers: read no more of its requests until it does.
      this.writer.waitDrain().then(this.onDrained);
      return;
    }
    const b = this.body;
    if (b !== null) b.abandon();
    this.state = S_HEAD;
    const core = this.core;
    this.deadline = core.now +
      (this.pending !== null || b !== null ? core.headerTimeoutMs : core.keepAliveMs);
    // A response whose head went out before shutdown began promised the client this connection:
    // its next request may be on the wire already, so it gets the grace an idle one gets.
    if (core.closing) this.shutdown();
    // A body that arrived whole may have paused reading (its queue was full) and then closed
    // without the app pulling again: nothing else would resume the next request.
    if (this.pausedPipeline || this.pausedBody) {
      this.pausedPipeline = this.pausedBody = false;
      this.socket.resume();
    }
    if (this.pending !== null || this.peerEnded) this.parse();
  }

  private bodyBroken(b: RequestBody): void {
    this.body = null;
    this.broken = true;
    if (b.tooLarge) this.refuse(413, bodyTooLargeReason(this.core.options.limitRequestBody ?? 0));
    // The rest of the stream is garbage; the response (if any is still coming) closes the connection.
    if (this.state === S_BUSY) this.bodyPause();
    else this.finish();
  }

  // The client broke the request while the app has it: logged, and its answer is `status`.
  private refuse(status: number, message: string): void {
    this.warn(status, message, this.exchange.client ?? this.info);
    if (this.state === S_BUSY) this.exchange.refuse(status, message);
  }

  // The body stopped arriving while the app waits for it.
  private bodyTimedOut(b: RequestBody): void {
    this.body = null;
    this.broken = true;
    this.deadline = Infinity;
    this.refuse(408, "request body not received in time");
    b.fail("request body not received in time");
    this.bodyPause();
  }

  private badRequest(err: unknown, client: ServeInfo = this.info): void {
    const status = err instanceof ParseError ? err.status : 400;
    const message = err instanceof Error ? err.message : "bad request";
    this.warn(status, message, client);
    this.sendError(status, message);
  }

  // Names the client (whom a PROXY header or a trusted proxy's headers named, if one did) and
  // the peer it came through, when that is another.
  private warn(status: number, message: string, client: ServeInfo): void {
    const hook = this.core.options.onBadRequest;
    if (hook !== undefined) {
      const remote = client.remoteAddr;
      try {
        hook(status, message, remote, remote === this.peer ? undefined : this.peer);
      } catch { /* a logging hook must not take the connection down */ }
    }
  }

  private sendError(status: number, message: string): void {
    this.socket.write(encodeHead(rawStatusReply(status, message), null));
    this.finish();
  }

  /** Ends our side, then keeps reading (and dropping) input for a while so no RST eats the reply. */
  finish(): void {
    if (this.state === S_CLOSING || this.closed) return;
    this.stopReading();
    this.deadline = this.core.now + LINGER_MS;
    this.socket.end();
    if (this.pausedBody || this.pausedPipeline) {
      this.pausedBody = this.pausedPipeline = false;
      this.socket.resume();
    }
  }

  destroy(): void {
    if (!this.closed) this.socket.destroy();
  }

  /**
   * Ends the connection for the server (closeNow: the graceful timeout ran out). A request whose
   * response had not begun gets a 504 on the wire, then the connection closes (the promise
   * settles once it did); its access line is the caller's (ExchangeHost.cutOff). One whose
   * response is under way is destroyed mid-body, logged here as its client got it.
   */
  cut(): Promise<void> | null {
    if (this.closed) return null;
    // A second cut (a gthread thread's end after its drain's) waits for the first one's reply.
    if (this.cutOff) return this.cutting;
    this.cutOff = true;
    // A stream whose first chunk is awaited has sent nothing: it gets the 504 too.
    const headPending = this.state === S_BUSY && this.exchange.headPending;
    if (this.state === S_BUSY) this.exchange.cutUnderWay();
    // Now, not at the 'close' event: the process may be about to end.
    this.exchange.abandoned();
    // Not one the worker process answered already (a gthread thread's, claimed: thread_slots.ts).
    const watch = this.core.options.watch;
    if (
      this.state !== S_BUSY ||
      (!headPending &&
        (!this.exchange.unanswered || (watch !== undefined && !watch.answering(this.tag))))
    ) {
      this.socket.destroy();
      return null;
    }
    this.stopReading();
    const socket = this.socket;
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    // Destroyed once written: unread input must not hold it open (end() alone waits for a FIN).
    socket.end(this.exchange.headOnly ? CUT_OFF_HEAD : CUT_OFF, () => socket.destroy());
    return this.cutting = closed;
  }

  /**
   * A quick stop (HttpServer.cutUnderWay): a response under way, its head sent, is ended now,
   * logged as its client got it (the status of its head, the body bytes written), as a client
   * gone mid-body is; the watch keeps naming it (ExchangeWatch.logged). Anything else is left to
   * the process's end, which names it (a 504 line: its client got nothing).
   */
  cutUnderWay(): void {
    const exchange = this.exchange;
    if (this.closed || this.cutOff || this.state !== S_BUSY) return;
    if (!exchange.underWay || exchange.headPending) return;
    this.cutOff = true;
    if (exchange.cutUnderWay()) this.core.options.watch?.logged?.(this.tag);
    exchange.abandoned();
    this.socket.destroy();
  }

  /** Called by the server's tick once `deadline` has passed. */
  timeout(): void {
    if (this.handshaking) {
      // Begun (its first bytes came) but never done: as a head that never completes, said; there
      // is no channel yet to tell the client, so no status goes out.
      this.warn(0, "TLS handshake not completed in time", this.info);
      this.destroy();
    } else if (this.state === S_HEAD && !this.idle && this.body === null) {
      // A head that never completes (slowloris): say so, to the client and in the log, then close.
      this.warn(408, "request head not received in time", this.info);
      this.sendError(408, "request head not received in time");
    } else if (this.state !== S_BUSY) {
      // A client that opened a connection and sent nothing (a browser's preconnect, a port scan,
      // or a flood of them): closed without a word to it, and said only at DEBUG, as nginx logs
      // its "client timed out ... while waiting for request" at info.
      if (this.fresh && this.idle) {
        this.core.options.onDebug?.(noRequestLine(this.info.remoteAddr, this.core));
      }
      this.destroy();
    } else if (this.body !== null) {
      this.bodyTimedOut(this.body);
    }
  }

  /**
   * Graceful shutdown: a busy connection closes after its response if that says connection:
   * close. An idle one, fresh or kept alive (or kept alive by a response that began before the
   * shutdown), may have a request on its way that the client sent before it could know: it gets
   * a short grace to deliver it, then closes.
   */
  shutdown(): void {
    if (this.state === S_UPGRADED) return this.session!.goingAway();
    if (!this.idle) return;
    this.deadline = Math.min(this.deadline, this.core.now + SHUTDOWN_GRACE_MS);
  }

  onError(error: Error): void {
    this.peerFailed = true;
    const debug = this.core.options.onDebug;
    if (debug !== undefined) debug(socketErrorLine(error, this.socket !== this.peerSocket));
  }

  onEnd(): void {
    this.peerEnded = true;
    // A client gone with part of a request head sent (gunicorn's NoMoreData).
    if (this.state === S_HEAD && this.pending !== null) {
      this.core.options.onDebug?.("Ignored premature client disconnection.");
    }
    if (this.state === S_BUSY) {
      // Half-close after a complete request is legal: still answer it, then close. A client
      // gone looks the same, so the request's signal aborts, as under the native servers.
      this.exchange.abandoned();
      if (this.body !== null) this.bodyCutByClient();
      return;
    }
    this.destroy();
  }

  // A body cut short (a chunked one without its last chunk) is the client's error, not the
  // app's: its answer is 400, whatever the app makes of the failed read.
  private bodyCutByClient(): void {
    const b = this.body!;
    this.body = null;
    this.refuse(400, BODY_CUT);
    b.fail(BODY_CUT);
  }

  // Nothing more will be parsed; a body the app is still reading fails.
  private stopReading(): void {
    if (this.state === S_UPGRADED) return;
    this.state = S_CLOSING;
    this.pending = this.acc = null;
    const b = this.body;
    if (b !== null) {
      this.body = null;
      b.fail("connection closed before the request body was complete");
    }
  }

  onClose(): void {
    this.closed = true;
    this.core.options.onDebug?.("Closing connection.");
    this.core.options.watch?.closed(this.tag);
    // A client that reset the connection mid-body (no FIN for onEnd) cut it short just the same.
    if (this.peerFailed && this.state === S_BUSY && this.body !== null) this.bodyCutByClient();
    this.stopReading();
    // Before the writer cancels the body stream, as the native servers order the two.
    this.exchange.abandoned();
    this.writer.abort(this.exchange.abandonMessage);
    this.core.settle(this);
  }

  bodyPause(): void {
    // Not reading is the app's doing, not the client's: the body is not timed meanwhile.
    if (this.state === S_BUSY) this.deadline = Infinity;
    if (!this.pausedBody) {
      this.pausedBody = true;
      if (!this.pausedPipeline) this.socket.pause();
    }
  }

  bodyResume(): void {
    if (this.pausedBody && !this.broken) {
      this.pausedBody = false;
      if (this.state === S_BUSY && this.body !== null) {
        this.deadline = this.core.now + this.core.bodyTimeoutMs;
      }
      if (!this.pausedPipeline) this.socket.resume();
    }
  }

  sendContinue(): void {
    if (this.closed || this.state !== S_BUSY) return;
    this.socket.write(CONTINUE);
    if (this.body !== null) this.deadline = this.core.now + this.core.bodyTimeoutMs;
  }
}
