// WebSockets under --reuse-port on Bun: the runtime-neutral upgradeWebSocket (Deno's shape,
// mod.ts) carried onto Bun's own server.upgrade(), so the same app runs in both socket modes.
// The app's own `websocket` handlers (Bun's shape) get every other socket. Deno needs none of
// this: there the neutral function falls back to the native Deno.upgradeWebSocket.

import { Buffer } from "node:buffer";
import type { FetchHandler, RemoteAddr, ServeInfo, WebSocketHandlers } from "../fetch_handler.ts";
import type { Logger } from "../log/logger.ts";
import type { SendLimit, SocketSource } from "../http/websocket/app_socket.ts";
import type { SessionBytes, WebSocketHub } from "../http/websocket/hub.ts";
import { handshakeRefusal } from "../http/websocket/handshake_refusal.ts";
import { payloadBytes } from "./native_socket_guard.ts";
import { infoWith } from "./native_info.ts";
import { closeForAppError, guardedCall } from "../http/websocket/handler_guard.ts";

/** What appserve uses of Bun's ServerWebSocket. */
interface NativeWs {
  data: unknown;
  readonly readyState: number;
  send(data: unknown, compress?: boolean): number;
  sendText?(data: unknown, compress?: boolean): number;
  sendBinary?(data: unknown, compress?: boolean): number;
  close(code?: number, reason?: string): void;
  getBufferedAmount(): number;
  subscribe?(topic: string): void;
}

type SendMethod = (data: unknown, compress?: boolean) => number;

/**
 * Counts what the app sends on `ws` into `bytes` (message payloads), through the socket's own
 * send methods: Bun's shape calls them itself. What `publish()` sends reaches other sockets
 * inside Bun and is not counted.
 */
function countSends(ws: NativeWs, bytes: SessionBytes): void {
  for (const name of ["send", "sendText", "sendBinary"] as const) {
    const method = ws[name] as SendMethod | undefined;
    if (typeof method !== "function") continue;
    ws[name] = (data: unknown, compress?: boolean) => {
      const sent = method.call(ws, data, compress);
      // 0: dropped; -1: queued behind backpressure, still to be sent.
      if (sent !== 0) bytes.bytesOut += payloadBytes(data);
      return sent;
    };
  }
}

/**
 * Tells `hub` of a topic `ws` subscribes to (Bun keeps the topics itself), until one was told:
 * its first is warned about when the server has other workers.
 */
function tellTopics(ws: NativeWs, hub: WebSocketHub): void {
  const subscribe = ws.subscribe;
  if (typeof subscribe !== "function") return;
  ws.subscribe = (topic: string) => {
    if (hub.watchesTopics) hub.topicSubscribed(topic);
    return subscribe.call(ws, topic);
  };
}

/** A session's end, and its counts while it lasts (null: not counted). */
interface Metered {
  end: () => void;
  bytes: SessionBytes | null;
}

type Listener = (...args: never[]) => void;

/** A Bun socket seen through the `ws`-like surface an AppWebSocket attaches to. */
class NativeSource implements SocketSource {
  readonly protocol: string;
  readonly extensions = "";
  readonly #listeners = new Map<string, Listener[]>();
  #ws: NativeWs | null = null;

  constructor(protocol: string) {
    this.protocol = protocol;
  }
  opened(ws: NativeWs): void {
    this.#ws = ws;
  }
  get readyState(): number {
    return this.#ws?.readyState ?? 0;
  }
  get bufferedAmount(): number {
    return this.#ws?.getBufferedAmount() ?? 0;
  }
  send(data: unknown): void {
    this.#ws?.send(data);
  }
  close(code?: number, reason?: string): void {
    this.#ws?.close(code, reason);
  }
  on(event: string, fn: Listener): this {
    const list = this.#listeners.get(event);
    if (list) list.push(fn);
    else this.#listeners.set(event, [fn]);
    return this;
  }
  emit(event: string, ...args: unknown[]): void {
    for (const fn of this.#listeners.get(event) ?? []) (fn as (...a: unknown[]) => void)(...args);
  }
}

/**
 * Starts a native session's bookkeeping (`bytes`: its counts, filled in while it lasts); returns
 * what to call when it ends.
 */
export type SessionBegin = (
  request: Request,
  remote: RemoteAddr,
  startedMs: number,
  bytes: SessionBytes,
) => () => void;

/**
 * A session on a native server: counted (statsd, --metrics-bind) and, with `access`, when it ends,
 * one access line with status 101, the whole session's duration and the bytes each way (message
 * payloads: the native servers show no frames).
 */
export function nativeSessionLog(access: Logger | undefined, hub: WebSocketHub): SessionBegin {
  return (request, remote, startedMs, bytes) => {
    hub.nativeSession(true);
    return () => {
      hub.nativeSession(false);
      if (access === undefined) return;
      const url = new URL(request.url);
      access.access({
        request,
        response: new Response(null, { status: 101 }),
        details: {
          remote,
          protocol: "HTTP/1.1",
          target: url.pathname + url.search,
          bodyBytes: bytes.bytesOut,
          bytesIn: bytes.bytesIn,
        },
        durationMs: performance.now() - startedMs,
        end: new Date(),
      });
    };
  };
}

/** The `data` of each socket upgraded on Bun's native server, until it opens. */
class Tagged {
  readonly appData: unknown;
  readonly bridge: Bridged | undefined;
  readonly request: Request;
  readonly remote: RemoteAddr;
  readonly started: number;
  constructor(
    appData: unknown,
    bridge: Bridged | undefined,
    request: Request,
    remote: RemoteAddr,
    started: number,
  ) {
    this.appData = appData;
    this.bridge = bridge;
    this.request = request;
    this.remote = remote;
    this.started = started;
  }
}

/** The `data` of a socket upgraded through the neutral function. */
class Bridged {
  readonly source: NativeSource;
  readonly attach: () => void;
  constructor(source: NativeSource, attach: () => void) {
    this.source = source;
    this.attach = attach;
  }
}

function bridged(ws: NativeWs): Bridged | undefined {
  return ws.data instanceof Bridged ? ws.data : undefined;
}

/** What bridgeNativeWebSockets works with besides the app's handler. */
export interface BridgeOptions {
  hub: WebSocketHub;
  /** The app's own `websocket` handlers (Bun's shape). */
  app: WebSocketHandlers | undefined;
  /** The send cap of sockets of Deno's shape. */
  limit: SendLimit;
  /** Each session's bookkeeping (statsd, --metrics-bind, the access log); none: no bookkeeping. */
  begin?: SessionBegin;
  /**
   * Whether to count each session's bytes (for its access line).
   * @default {false}
   */
  count?: boolean;
  /** An app's handler threw or rejected (the socket is then closed with 1011). */
  appError: (error: unknown, handler: string, target: string) => void;
}

/**
 * The handler and `websocket` handlers for Bun.serve under --reuse-port: upgrade requests are
 * offered to the hub first, so the neutral upgradeWebSocket answers them; its 101 becomes Bun's
 * server.upgrade(), and the socket's events reach the app's AppWebSocket.
 */
export function bridgeNativeWebSockets(
  handler: FetchHandler,
  { hub, app, limit, begin, count = false, appError }: BridgeOptions,
): { handler: FetchHandler; websocket: WebSocketHandlers } {
  const finish = (request: Request, info: ServeInfo, started: number, response: unknown) => {
    const pending = hub.take(request, response);
    if (pending === null || pending.kind !== "deno") return response as Response;
    // The same answer as on appserve's layer (Bun's own upgrade() would answer a bad version
    // itself, without the access log seeing it).
    const refusal = handshakeRefusal(request);
    if (refusal !== null) return refusal;
    const source = new NativeSource(pending.protocol);
    const bridge = new Bridged(source, () => pending.socket.attach(source, limit));
    const data = new Tagged(undefined, bridge, request, info.remoteAddr, started);
    const headers = pending.protocol ? { "sec-websocket-protocol": pending.protocol } : undefined;
    // Bun.serve ignores what fetch returns once upgrade() said true.
    if (info.upgrade?.(request, { data, headers })) return undefined as unknown as Response;
    return new Response("WebSocket upgrade failed\n", { status: 400 });
  };
  const wrapped: FetchHandler = (request, info) => {
    if (!request.headers.has("upgrade")) return handler(request, info);
    hub.offer(request);
    const started = performance.now();
    let refused: Response | null = null;
    // The app's own server.upgrade() (Bun's shape) tags the socket too, for the access log; the
    // rest of `info` is the native one's.
    const tagging = infoWith(info, {
      upgrade: (r: Request, options?: { data?: unknown; headers?: HeadersInit }) => {
        // A bad handshake is refused as on appserve's layer: upgrade() says true and the refusal
        // is the answer (Bun's own 426 would go out past the access log, and the app's reply
        // with it be logged instead).
        const refusal = handshakeRefusal(r);
        if (refusal !== null) {
          refused = refusal;
          return true;
        }
        // Bun calls `open` before upgrade() returns: what the session needs travels in `data`.
        return info.upgrade!(r, {
          ...options,
          data: new Tagged(options?.data, undefined, r, info.remoteAddr, started),
        });
      },
    });
    const done = (response: unknown) => refused ?? finish(request, info, started, response);
    const r = handler(request, tagging);
    return r instanceof Response ? done(r) : Promise.resolve(r).then(done);
  };
  const sessions = new WeakMap<NativeWs, Metered>();
  // The upgrade request's target of each socket in Bun's shape, for the log of its failures.
  const targets = new WeakMap<NativeWs, string>();
  // The app's own handler, guarded: a throw or rejection closes that socket with 1011 (Bun.serve
  // would end the process with it).
  const call = (ws: NativeWs, handler: string, fn: (() => unknown) | undefined) => {
    if (fn === undefined) return;
    guardedCall(fn, (error) => {
      appError(error, handler, targets.get(ws) ?? "");
      closeForAppError(ws);
    });
  };
  const websocket: WebSocketHandlers = {
    open(ws: NativeWs) {
      const tag = ws.data;
      if (tag instanceof Tagged) {
        const url = new URL(tag.request.url);
        targets.set(ws, url.pathname + url.search);
        if (begin !== undefined) {
          const bytes: SessionBytes = { bytesIn: 0, bytesOut: 0 };
          if (count) countSends(ws, bytes);
          const end = begin(tag.request, tag.remote, tag.started, bytes);
          sessions.set(ws, { end, bytes: count ? bytes : null });
        }
        ws.data = tag.bridge ?? tag.appData;
      }
      if (hub.watchesTopics) tellTopics(ws, hub);
      const b = bridged(ws);
      if (b === undefined) return call(ws, "open", app?.open && (() => app.open!(ws)));
      b.source.opened(ws);
      b.attach();
      return undefined;
    },
    message(ws: NativeWs, message: string | Uint8Array) {
      if (count) {
        const bytes = sessions.get(ws)?.bytes;
        if (bytes) bytes.bytesIn += payloadBytes(message);
      }
      const b = bridged(ws);
      if (b === undefined) {
        return call(ws, "message", app?.message && (() => app.message!(ws, message)));
      }
      b.source.emit("message", message, typeof message !== "string");
      return undefined;
    },
    close(ws: NativeWs, code: number, reason: string) {
      sessions.get(ws)?.end();
      const b = bridged(ws);
      if (b === undefined) {
        return call(ws, "close", app?.close && (() => app.close!(ws, code, reason)));
      }
      b.source.emit("close", code, Buffer.from(reason));
      return undefined;
    },
    drain: (ws: NativeWs) =>
      bridged(ws) ? undefined : call(ws, "drain", app?.drain && (() => app.drain!(ws))),
    ping: (ws: NativeWs, data: Uint8Array) =>
      bridged(ws) ? undefined : call(ws, "ping", app?.ping && (() => app.ping!(ws, data))),
    pong: (ws: NativeWs, data: Uint8Array) =>
      bridged(ws) ? undefined : call(ws, "pong", app?.pong && (() => app.pong!(ws, data))),
  };
  return { handler: wrapped, websocket };
}
