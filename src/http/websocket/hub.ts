// The WebSockets of one worker process or gthread thread on appserve's own HTTP layer: which
// requests may be upgraded (offered by the connection that parsed them), what the app asked for
// (Deno's `upgradeWebSocket` or Bun's `server.upgrade`), the handshake on the raw socket through
// `ws`, and the open sessions (1001 on a graceful stop, idle pings, counts for statsd).

import { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import { clearInterval, setInterval } from "node:timers";
import type {
  UpgradeOptions,
  WebSocketHandlers,
  WebSocketUpgrade,
  WebSocketUpgrader,
} from "../../fetch_handler.ts";
import { AppWebSocket, type SendLimit } from "./app_socket.ts";
import { notAWebSocketRequest } from "./handshake_refusal.ts";
import {
  BunServerWebSocket,
  severalHubs,
  type TopicReach,
  Topics,
  topicsWarning,
} from "./bun_socket.ts";
import { SendWatch, STALL_MS } from "./send_watch.ts";
import { SentBytes } from "./sent_bytes.ts";
import {
  createWsServer,
  flushAnswers,
  guardRepeatedEnd,
  loadWsLibrary,
  type UpgradeRequestLike,
  writeAnswersPerChunk,
  wsLibraryLoaded,
  type WsServer,
  type WsSocket,
} from "./ws_library.ts";

/** The WebSocket settings (src/config/settings.ts) and what the hub reports to. */
export interface WebSocketHubOptions {
  /** Largest message a client may send, bytes; past it: close 1009. */
  maxMessage: number;
  /** Seconds a socket may go without answering a ping; 0: no pings. */
  idleTimeout: number;
  /** Bytes that may wait unsent on one socket (Bun's backpressureLimit). */
  sendLimit: number;
  /** A warning for the error log. */
  warn(message: string): void;
  /**
   * The server's workers and gthread threads, each with a hub and topics of its own: with more
   * than one hub, the first topic subscribed is warned about (topicsWarning). @default one
   */
  reach?: TopicReach;
  /**
   * An app's WebSocket handler threw or rejected (the socket is closed with 1011): `handler`
   * names it (`onmessage`, `open`), `target` is the upgrade request's.
   */
  appError(error: unknown, handler: string, target: string): void;
  /** A session opened (`opened`) or closed; `open` is how many are open now. */
  onCount?(open: number, opened: boolean): void;
}

/** What the app asked for on an offered request. */
export type PendingUpgrade =
  | { kind: "deno"; socket: AppWebSocket; response: Response; protocol: string; idle: number }
  | { kind: "bun"; data: unknown; headers: Headers | null };

/** One open WebSocket, as its connection sees it. */
export interface Session {
  /** Graceful stop: close code 1001, then the client's close frame ends the socket. */
  goingAway(): void;
}

/** How the session went, for the access log. */
export interface SessionEnd {
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  code: number;
}

/** Bytes a session on a native server carried each way, as message payloads. */
export interface SessionBytes {
  bytesIn: number;
  bytesOut: number;
}

/** A socket Deno.serve upgraded, and its counts. */
export interface NativeSession {
  socket: WebSocket;
  bytes: SessionBytes;
  /** The client had left when the app upgraded: the socket never opens (nor closes). */
  left: boolean;
}

/** The request head as the handshake needs it. */
export interface HandshakeHead {
  method: string;
  target: string;
  headers: readonly (readonly [string, string])[];
}

const OFFERED = null;
const SHUTTING_DOWN = "server shutting down";
// Deno.serve's close for a socket that answered no ping (measured, Deno 2.9.6): 1001, "going
// away", as RFC 6455 has no code for it; the same in every setup.
const NO_PONG_CODE = 1001;
const NO_PONG_REASON = "No response from ping frame.";

/** Who a session is, for the line that names it when it is cut off. */
interface SessionName {
  method: string;
  target: string;
  client: string;
  startedMs: number;
}

class OpenSession implements Session {
  readonly idleMs: number;
  sinceMs = 0;
  readonly ws: WsSocket;
  readonly socket: Socket;
  readonly name: SessionName;
  /** bytesRead at the last ping round: anything read since (a message, a pong) is life. */
  lastRead: number;
  constructor(ws: WsSocket, socket: Socket, idleMs: number, name: SessionName) {
    this.ws = ws;
    this.socket = socket;
    this.idleMs = idleMs;
    this.name = name;
    this.lastRead = socket.bytesRead;
  }
  goingAway(): void {
    this.ws.close(1001, SHUTTING_DOWN);
  }
}

/** `GET /ws from 1.2.3.4:5, open 6.1 s`: as WORKER TIMEOUT names a request, said to be a session. */
function describeSession(name: SessionName, now: number): string {
  const seconds = Math.max(0, (now - name.startedMs) / 1000).toFixed(1);
  return `WebSocket session ${name.method} ${name.target} from ${name.client}, open ${seconds} s`;
}

/** The client as the app saw it, with the connection's port when that is the same peer. */
function clientName(remoteAddress: string, socket: Socket): string {
  if (remoteAddress === "" || socket.remoteAddress !== remoteAddress) return remoteAddress || "-";
  const host = remoteAddress.includes(":") ? `[${remoteAddress}]` : remoteAddress;
  return `${host}:${socket.remotePort}`;
}

interface HandshakeRequest extends UpgradeRequestLike {
  /** The subprotocol to answer with ("" none). */
  protocol: string;
  /** Extra lines of the 101 (Bun's `upgrade(req, { headers })`). */
  extra: string[] | null;
}

function headerObject(pairs: readonly (readonly [string, string])[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (const [name, value] of pairs) {
    const k = name.toLowerCase();
    o[k] = k in o ? `${o[k]}, ${value}` : value;
  }
  return o;
}

export class WebSocketHub {
  readonly #options: WebSocketHubOptions;
  /** Requests the HTTP layer can upgrade → what the app asked for (null: nothing yet). */
  readonly #offers = new WeakMap<Request, PendingUpgrade | null>();
  readonly #sessions = new Set<OpenSession>();
  readonly #topics: Topics;
  readonly #limit: SendLimit;
  #server: WsServer | null = null;
  #handlers: WebSocketHandlers | undefined;
  #ticker: ReturnType<typeof setInterval> | null = null;
  #warned = false;
  readonly #native = new WeakMap<Response, NativeSession>();
  #nativeOpen = 0;
  /** Sockets Deno.serve upgraded that are still open, and what their close waits on. */
  readonly #nativeSockets = new Set<WebSocket>();
  /** Called when the last session (of either kind) is gone. */
  #whenEmpty: (() => void)[] = [];
  /** Called when the last of #nativeSockets closed. */
  #whenNativeClosed: (() => void)[] = [];
  /** A graceful stop told the native sockets 1001: one upgraded later is told at once. */
  #nativeAway = false;

  constructor(options: WebSocketHubOptions) {
    this.#options = options;
    const reach = options.reach;
    this.#topics = new Topics(
      reach && severalHubs(reach)
        ? (topic) => options.warn(topicsWarning(topic, reach))
        : undefined,
    );
    this.#limit = {
      bytes: options.sendLimit,
      exceeded: () => {
        if (this.#warned) return;
        this.#warned = true;
        options.warn(
          `WebSocket closed with 1008: more than ${options.sendLimit} bytes waited to be sent ` +
            "(the client reads slower than the app sends; said once per worker)",
        );
      },
    };
  }

  /** A session on appserve's layer is closed: its reader stalled. Named, as each is its own. */
  #stallWarning(name: SessionName): void {
    this.#options.warn(
      `WebSocket closed with 1008: more than ${this.#options.sendLimit} bytes waited to be sent ` +
        `and none went out for ${STALL_MS / 1000} s (the client stopped reading): ` +
        describeSession(name, performance.now()),
    );
  }

  /** The default export's `websocket` handlers (Bun's shape), once the app is loaded. */
  setHandlers(handlers: WebSocketHandlers | undefined): void {
    this.#handlers = handlers;
  }

  /** The send-buffer cap and its warning, as sockets of the Deno shape apply it. */
  get sendLimit(): SendLimit {
    return this.#limit;
  }

  /** Open WebSockets, on appserve's layer and on a native server. */
  get open(): number {
    return this.#sessions.size + this.#nativeOpen;
  }

  /** A native server's upgrade (Deno.serve's, under --reuse-port): its socket, by its 101. */
  nativeUpgraded(upgrade: WebSocketUpgrade, bytes: SessionBytes, left = false): void {
    this.#native.set(upgrade.response, { socket: upgrade.socket, bytes, left });
    const socket = upgrade.socket;
    // Counted once open: a socket whose 101 the app never returned never opens (nor closes).
    // Added past the socket's own addEventListener, which guards the app's listeners only.
    ownListener(socket, "open", () => {
      this.#nativeSockets.add(socket);
      // Opened while the stop waits for the others' close handshakes: told at once.
      if (this.#nativeAway) socket.close(1001, SHUTTING_DOWN);
    });
    ownListener(socket, "close", () => {
      if (this.#nativeSockets.delete(socket)) this.#checkEmpty();
    });
  }

  /**
   * Graceful stop of the sockets Deno.serve upgraded: 1001 to each, as on appserve's layer;
   * resolves once each has had its close handshake (Deno's close() waits for the client's close
   * frame; its own shutdown() would drop the socket at once, and tell the app 1005).
   */
  nativeGoingAway(): Promise<void> {
    this.#nativeAway = true;
    for (const socket of this.#nativeSockets) {
      if (socket.readyState === WebSocket.OPEN) socket.close(1001, SHUTTING_DOWN);
    }
    return this.#nativeSockets.size === 0
      ? Promise.resolve()
      : new Promise((resolve) => this.#whenNativeClosed.push(resolve));
  }

  /** The socket of a native upgrade whose 101 this is. */
  nativeSocket(response: Response): NativeSession | undefined {
    return this.#native.get(response);
  }

  /** A session on a native server opened or closed (counted for statsd). */
  nativeSession(opened: boolean): void {
    this.#nativeOpen += opened ? 1 : -1;
    this.#options.onCount?.(this.open, opened);
    if (!opened) this.#checkEmpty();
  }

  #checkEmpty(): void {
    if (this.#nativeSockets.size === 0 && this.#whenNativeClosed.length > 0) {
      const w = this.#whenNativeClosed;
      this.#whenNativeClosed = [];
      for (const resolve of w) resolve();
    }
    if (this.#sessions.size > 0 || this.#nativeOpen > 0 || this.#nativeSockets.size > 0) return;
    const w = this.#whenEmpty;
    this.#whenEmpty = [];
    for (const resolve of w) resolve();
  }

  /**
   * Resolves once every session has ended (its close handler run, its access line written), or
   * after `ms`: a worker about to exit waits for the sessions its stop cut, whose ends come an
   * event or two after their sockets closed.
   */
  settled(ms: number): Promise<void> {
    if (this.#sessions.size === 0 && this.#nativeOpen === 0 && this.#nativeSockets.size === 0) {
      return Promise.resolve();
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    return new Promise<void>((resolve) => {
      this.#whenEmpty.push(resolve);
      timer = setTimeout(resolve, ms);
    }).finally(() => clearTimeout(timer));
  }

  /**
   * One line per session still open on appserve's layer (`WebSocket session GET /ws from
   * 1.2.3.4:5, open 6.1 s`), then one for those on a native server, which names none: what a
   * cut at the graceful timeout ends.
   */
  openLines(now = performance.now()): string[] {
    const lines = [...this.#sessions].map((s) => describeSession(s.name, now));
    const native = this.#nativeSockets.size;
    if (native > 0) {
      lines.push(`${native} WebSocket session${native === 1 ? "" : "s"} on the native server`);
    }
    return lines;
  }

  /**
   * A quick stop: every session on appserve's layer is dropped (the client sees 1006); returns
   * how many.
   */
  dropAll(): number {
    for (const s of this.#sessions) s.ws.terminate();
    return this.#sessions.size;
  }

  /** Deno's `upgradeWebSocket` for the requests this hub was offered; undefined for others. */
  readonly upgrader: WebSocketUpgrader = (request, options) => this.#upgradeDeno(request, options);

  /** The HTTP layer parsed an upgrade request: the app may upgrade it. */
  offer(request: Request): void {
    this.#offers.set(request, OFFERED);
    if (!wsLibraryLoaded()) {
      // Usually loaded before the app has answered; complete() waits for it otherwise.
      void loadWsLibrary().catch(() => {});
    }
  }

  #upgradeDeno(request: Request, options?: UpgradeOptions): WebSocketUpgrade | undefined {
    if (!this.#offers.has(request)) return undefined;
    // Deno's own words for a request that asks for no WebSocket.
    const notAsked = notAWebSocketRequest(request);
    if (notAsked !== null) throw new TypeError(notAsked);
    const url = new URL(request.url);
    const socket = new AppWebSocket(
      request.url,
      (error, handler) => this.#options.appError(error, handler, url.pathname + url.search),
    );
    const response = new Response(null, { status: 101 });
    const idle = options?.idleTimeout ?? this.#options.idleTimeout;
    this.#offers.set(request, {
      kind: "deno",
      socket,
      response,
      protocol: options?.protocol ?? "",
      idle,
    });
    return { socket: socket as unknown as WebSocket, response };
  }

  /** Bun's `server.upgrade(request, { data, headers })`. */
  upgradeBun(request: Request, options?: { data?: unknown; headers?: HeadersInit }): boolean {
    if (!this.#offers.has(request)) return false;
    if (this.#handlers === undefined) {
      throw new TypeError(
        'To enable websocket support, set the "websocket" object in the default export',
      );
    }
    if (notAWebSocketRequest(request) !== null) return false;
    const headers = options?.headers === undefined ? null : new Headers(options.headers);
    this.#offers.set(request, { kind: "bun", data: options?.data, headers });
    return true;
  }

  /** Whether a topic subscribed on a native server is still to be told (topicSubscribed). */
  get watchesTopics(): boolean {
    return this.#topics.watching;
  }

  /**
   * A socket on a native server (which keeps its topics itself) subscribed to `topic`: counted
   * with those of appserve's layer, whose first is warned about.
   */
  topicSubscribed(topic: string): void {
    this.#topics.subscribed(topic);
  }

  /** Bun's `server.publish`: to the subscribers among this hub's sockets. */
  publish(
    topic: string,
    data: string | ArrayBufferLike | ArrayBufferView,
    compress?: boolean,
  ): number {
    return this.#topics.publish(topic, data, compress, null);
  }

  /**
   * The app answered an offered request with `response`: the upgrade to perform, or null (write
   * the response). Deno's shape counts only when the app returned the very 101 it was given;
   * after Bun's `upgrade()` the response is ignored, as Bun.serve ignores it.
   */
  take(request: Request, response: unknown): PendingUpgrade | null {
    const pending = this.#offers.get(request);
    if (pending === undefined || pending === null) return null;
    this.#offers.delete(request);
    if (pending.kind === "deno" && pending.response !== response) return null;
    return pending;
  }

  #wsServer(): WsServer {
    if (this.#server !== null) return this.#server;
    const server = createWsServer({
      maxPayload: this.#options.maxMessage,
      chooseProtocol: (offered, request) => {
        const p = (request as HandshakeRequest).protocol;
        return p !== "" && offered.has(p) ? p : false;
      },
    });
    server.on("headers", (lines, request) => {
      const extra = (request as HandshakeRequest).extra;
      if (extra !== null) lines.push(...extra);
    });
    return this.#server = server;
  }

  /**
   * Performs the handshake on `socket` (whose own listeners the connection took off), `head`
   * being the bytes read past the request head. `ended` is called once the socket is closed,
   * if the handshake succeeded; a refused one (`ws` answers 400) just closes the socket.
   */
  complete(
    pending: PendingUpgrade,
    request: HandshakeHead,
    socket: Socket,
    head: Buffer | null,
    remoteAddress: string,
    ended: (end: SessionEnd) => void,
  ): Session {
    const headers = headerObject(request.headers);
    let extra: string[] | null = null;
    let protocol: string;
    if (pending.kind === "deno") {
      protocol = pending.protocol;
    } else {
      const h = pending.headers;
      // Bun answers with the client's first subprotocol unless the app named one.
      protocol = h?.get("sec-websocket-protocol") ??
        headers["sec-websocket-protocol"]?.split(",")[0].trim() ?? "";
      if (h !== null) {
        h.delete("sec-websocket-protocol");
        extra = [];
        for (const [k, v] of h) extra.push(`${k}: ${v}`);
      }
    }
    const handshake: HandshakeRequest = {
      method: request.method,
      url: request.target,
      headers,
      socket,
      protocol,
      extra,
    };
    guardRepeatedEnd(socket as unknown as { end(...a: unknown[]): unknown });
    const idleMs = (pending.kind === "deno" ? pending.idle : this.#options.idleTimeout) * 1000;
    let session: OpenSession | null = null;
    // While `ws` loads, a graceful stop waits for the session to say 1001; before ws took the
    // socket otherwise there is no handshake to close: drop it.
    let loading = false;
    let away = false;
    const proxy: Session = {
      goingAway: () => {
        if (session !== null) session.goingAway();
        else if (loading) away = true;
        else socket.destroy();
      },
    };
    const started = performance.now();
    const done = (ws: WsSocket) => {
      guardRepeatedEnd((ws as unknown as { _receiver: { end(): unknown } })._receiver);
      writeAnswersPerChunk(socket);
      const s = session = new OpenSession(ws, socket, idleMs, {
        method: request.method,
        target: request.target,
        client: clientName(remoteAddress, socket),
        startedMs: started,
      });
      const in0 = s.lastRead;
      // What the client could have got, not what was queued for it (bytesWritten counts that).
      const sent = new SentBytes(socket);
      // A stalled reader is closed in either shape: what waits may be a whole burst, far more than
      // Bun ever holds past its backpressureLimit (docs/websockets.md, "The send queue").
      const watch = new SendWatch(
        () => sent.bytes,
        () => ws.bufferedAmount,
        this.#options.sendLimit,
        () => {
          this.#stallWarning(s.name);
          ws.close(1008, "send buffer limit exceeded");
        },
      );
      this.#opened(s);
      ws.on("close", (code: number) => {
        watch.stop();
        this.#closed(s);
        ended({
          durationMs: performance.now() - started,
          bytesIn: socket.bytesRead - in0,
          bytesOut: sent.bytes,
          code,
        });
        this.#ended();
      });
      if (pending.kind === "deno") {
        pending.socket.attach(ws, this.#limit, watch);
        return;
      }
      const bws = new BunServerWebSocket(
        ws,
        pending.data,
        remoteAddress,
        this.#topics,
        watch,
        () => flushAnswers(socket),
      );
      const handlers = this.#handlers!;
      const failed = (error: unknown, handler: string) =>
        this.#options.appError(error, handler, request.target);
      if (handlers.drain !== undefined) {
        socket.on("drain", () => bws.drained(handlers, failed));
      }
      bws.attach(handlers, failed);
    };
    const handshakeNow = () =>
      this.#wsServer().handleUpgrade(handshake, socket, head ?? Buffer.alloc(0), done);
    if (wsLibraryLoaded()) {
      handshakeNow();
    } else {
      // Nothing may be read (and lost) before `ws` listens on the socket.
      socket.pause();
      loading = true;
      loadWsLibrary().then(() => {
        loading = false;
        if (socket.destroyed) return;
        socket.resume();
        handshakeNow();
        if (away) proxy.goingAway();
      }).catch((error: Error) => {
        loading = false;
        this.#options.warn(`WebSocket upgrade dropped: ${error.message}`);
        socket.destroy();
      });
    }
    return proxy;
  }

  #opened(s: OpenSession): void {
    this.#sessions.add(s);
    this.#options.onCount?.(this.open, true);
    if (s.idleMs > 0) this.#startPings(s.idleMs);
  }

  #closed(s: OpenSession): void {
    if (!this.#sessions.delete(s)) return;
    this.#options.onCount?.(this.open, false);
  }

  // After the session's end was recorded (its access line).
  #ended(): void {
    this.#checkEmpty();
  }

  // One ping round per second; a socket is pinged when half its idle timeout passed without a
  // message or pong, and when a whole one did, it gets a close frame (Deno.serve's 1001) and
  // the connection ends with it: a peer that answers no ping answers no close frame either. The timer stops at the
  // first round that finds no session, not at each last close: a worker whose sockets open and
  // close one at a time would otherwise make and clear a timer per connection.
  #startPings(_idleMs: number): void {
    if (this.#ticker !== null) return;
    this.#ticker = setInterval(() => this.#pingRound(), 1000);
    this.#ticker.unref();
  }

  #pingRound(): void {
    if (this.#sessions.size === 0 && this.#ticker !== null) {
      clearInterval(this.#ticker);
      this.#ticker = null;
      return;
    }
    for (const s of this.#sessions) {
      if (s.idleMs <= 0) continue;
      const read = s.socket.bytesRead;
      if (read !== s.lastRead) {
        s.lastRead = read;
        s.sinceMs = 0;
        continue;
      }
      s.sinceMs += 1000;
      if (s.sinceMs >= s.idleMs) {
        s.ws.close(NO_PONG_CODE, NO_PONG_REASON);
        // Once the close frame is written; `ws` alone would wait 30 s for the reply.
        s.socket.end(() => s.socket.destroy());
      } else if (s.sinceMs >= s.idleMs / 2 && s.sinceMs - 1000 < s.idleMs / 2) {
        try {
          s.ws.ping();
        } catch { /* closing */ }
      }
    }
  }

  /** Graceful stop of every open socket: close code 1001. */
  goingAway(): void {
    for (const s of this.#sessions) s.goingAway();
  }
}

/**
 * A listener of appserve's own on a native socket, once: added with EventTarget's method, past the
 * one native_socket_guard.ts puts on the socket for the app's listeners (whose throws close it
 * with 1011 as the app's error).
 */
export function ownListener(socket: WebSocket, type: "open" | "close", listener: () => void): void {
  EventTarget.prototype.addEventListener.call(socket, type, listener, { once: true });
}
