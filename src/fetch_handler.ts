// The contract between appserve and an app: the handler it calls and the
// second argument it passes. The lowest layer, since both the runtime's native
// server (src/runtime/) and appserve's own HTTP layer (src/http/) call apps.

/**
 * The peer of a connection, in the shape `Deno.serve` hands to handlers. On a unix socket it is
 * Deno's `{ transport: "unix", path }`, the path being the listener's; its `hostname` ("") and
 * `port` (0) can still be read there, but are not enumerable.
 */
export interface RemoteAddr {
  transport: "tcp" | "unix";
  hostname: string;
  port: number;
  /** On a unix socket: the path of the listener the connection came on ("" when unknown). */
  path?: string;
}

/**
 * Second argument of every app call. It carries both the `deno serve` shape
 * (`info.remoteAddr`) and the Bun shape (`server.requestIP(req)`) so apps and
 * framework adapters written for either runtime find the peer where they look.
 * Both name the client: the socket's peer, or the address a trusted proxy gave
 * (forwarded_allow_ips headers, or a PROXY protocol header from proxy_allow_ips).
 *
 * @example
 * ```ts
 * export default {
 *   fetch: (req: Request, info: ServeInfo) =>
 *     new Response(`client ${info.requestIP()?.address ?? "on a unix socket"}`),
 * };
 * ```
 */
export interface ServeInfo {
  remoteAddr: RemoteAddr;
  requestIP(request?: Request): { address: string; family: string; port: number } | null;
  /** Bun's `server.port`: the port of the listener the request came on (0 on a unix socket). */
  readonly port?: number;
  /**
   * Bun's `server.hostname`: the address that listener is bound to (on the shared socket, the
   * local address the connection came to; "localhost" on a unix socket).
   */
  readonly hostname?: string;
  /** Bun's `server.url`: that listener's URL, for `new URL(path, server.url)`. */
  readonly url?: URL;
  /**
   * Bun's shape of a WebSocket upgrade: true when `request` will be upgraded once the handler
   * returns (what it returns is then ignored); the default export's `websocket` handlers get the
   * socket. False for a request that is no WebSocket upgrade.
   */
  upgrade?(request: Request, options?: { data?: unknown; headers?: HeadersInit }): boolean;
  /**
   * Bun's `server.timeout(request, seconds)`, which apps call to keep a long response (server-sent
   * events) from Bun's idle timeout. appserve's own layer times no response out while it is under
   * way, so there it does nothing; with `--reuse-port` under Bun it is Bun's.
   */
  timeout?(request: Request, seconds: number): void;
  /** Bun's `server.publish`: sends to every socket of this worker subscribed to `topic`. */
  publish?(
    topic: string,
    data: string | ArrayBufferLike | ArrayBufferView,
    compress?: boolean,
  ): number;
  /** Bun's `server.development`: false, since appserve never serves Bun's development pages. */
  readonly development?: boolean;
  /** Bun's `server.id`: "", as Bun gives a server started without one. */
  readonly id?: string;
  /**
   * Bun's `server.stop()`, `reload()`, `pendingRequests`, `pendingWebSockets` and
   * `subscriberCount()` are refused in one line each (ServerMembers): the master owns the
   * listeners, and a worker's counts are not the server's.
   */
  stop?(): never;
  reload?(): never;
  readonly pendingRequests?: never;
  readonly pendingWebSockets?: never;
  subscriberCount?(): never;
}

/**
 * What every ServeInfo has of Bun's server beyond the request's own: the two values appserve's
 * workers share with Bun's defaults, and the members that would do or say the wrong thing in one
 * worker of several, each an Error naming what to use instead rather than a TypeError or a silent
 * no-op. All on the prototype, so `info` still shows no fields of its own.
 */
export class ServerMembers {
  get development(): boolean {
    return false;
  }
  get id(): string {
    return "";
  }
  stop(): never {
    throw new Error(
      "server.stop() is not available under appserve: the master owns the listeners and stops " +
        "the workers; send the master TERM (graceful stop) or QUIT",
    );
  }
  reload(): never {
    throw new Error(
      "server.reload() is not available under appserve: send the master HUP to reload the app " +
        "in every worker",
    );
  }
  get pendingRequests(): never {
    return refuseCount("server.pendingRequests", "appserve_requests_in_flight");
  }
  get pendingWebSockets(): never {
    return refuseCount("server.pendingWebSockets", "appserve_websockets_open");
  }
  subscriberCount(): never {
    return refuseCount("server.subscriberCount()", null);
  }
}

function refuseCount(member: string, metric: string | null): never {
  throw new Error(
    `${member} is not available under appserve: each worker is a process of its own and would ` +
      "count only its own" + (metric ? ` (--metrics-bind's /metrics has ${metric})` : ""),
  );
}

/** A Web-standard fetch handler. */
export type FetchHandler = (request: Request, info: ServeInfo) => Response | Promise<Response>;

/**
 * The `websocket` object of an app in Bun's shape (`export default { fetch, websocket }`), as
 * `Bun.serve` takes it. `ws` is a socket with Bun's ServerWebSocket methods.
 */
export interface WebSocketHandlers {
  // deno-lint-ignore no-explicit-any
  open?(ws: any): unknown;
  // deno-lint-ignore no-explicit-any
  message?(ws: any, message: string | Uint8Array): unknown;
  // deno-lint-ignore no-explicit-any
  close?(ws: any, code: number, reason: string): unknown;
  // deno-lint-ignore no-explicit-any
  drain?(ws: any): unknown;
  // deno-lint-ignore no-explicit-any
  ping?(ws: any, data: Uint8Array): unknown;
  // deno-lint-ignore no-explicit-any
  pong?(ws: any, data: Uint8Array): unknown;
}

/**
 * A loaded app: its fetch handler, with the `websocket` handlers its module exported, if any, and
 * a warning about what else it exported that appserve does not use (`Bun.serve` options).
 */
export type AppHandler = FetchHandler & {
  websocket?: WebSocketHandlers;
  /** A warning: Bun.serve options of the app's that have no effect here. */
  ignored?: string;
  /** A warning: the app started a server of its own while loading. */
  ownServer?: string;
  /** `deno serve`'s onListen of the app's default export, called once its listeners accept. */
  onListen?: (addr: ListenAddr) => unknown;
};

/** The address `deno serve` hands onListen. */
export type ListenAddr =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

/** Options of Deno's `upgradeWebSocket`, as appserve honours them. */
export interface UpgradeOptions {
  /** The subprotocol to answer with (one the client offered). */
  protocol?: string;
  /** Seconds without a pong before the socket is closed; the server setting otherwise. */
  idleTimeout?: number;
}

/** What `upgradeWebSocket` returns: the socket, and the 101 the handler must return. */
export interface WebSocketUpgrade {
  socket: WebSocket;
  response: Response;
}

/** Upgrades a request appserve's layer offered; undefined for any other request. */
export type WebSocketUpgrader = (
  request: Request,
  options?: UpgradeOptions,
) => WebSocketUpgrade | undefined;

/** The URL of a listener at `hostname` and `port` (0: none, a unix socket's). */
export function listenerUrl(scheme: "http" | "https", hostname: string, port: number): URL {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return new URL(`${scheme}://${host}${port > 0 ? `:${port}` : ""}/`);
}
