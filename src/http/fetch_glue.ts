// Where wire data becomes Fetch objects: the Request handed to the app and its ServeInfo. Kept
// apart from the connection's state machine.

import type { Socket } from "node:net";
import { AppRequest } from "./app_request.ts";
import type { RequestHead } from "./parser.ts";
import { type HttpOptions, ParseError, type RemoteAddr, type ServeInfo } from "./types.ts";
import { listenerUrl, ServerMembers } from "../fetch_handler.ts";
import type { WebSocketHub } from "./websocket/hub.ts";

const NO_REMOTE: RemoteAddr = unixRemote("");

/**
 * The remoteAddr of a unix-socket peer as Deno.serve gives it: `{ transport: "unix", path }` with
 * the listener's path (a connecting client has none of its own). hostname "" and port 0 stay
 * readable, not enumerable, for what reads the tcp shape (logs, trust). Made once per listener.
 */
export function unixRemote(path: string): RemoteAddr {
  return Object.defineProperties({ transport: "unix", path }, {
    hostname: { value: "" },
    port: { value: 0 },
  }) as RemoteAddr;
}

// `duplex` is required for a stream body but missing from some runtimes' RequestInit typings.
type StreamingInit = RequestInit & { duplex: "half" };

// HTTP/1.0 requests, for what must tell them from HTTP/1.1 by the Request alone (the OTel span's
// network.protocol.version): only 1.0 is marked, so an HTTP/1.1 request pays nothing.
const HTTP10 = new WeakSet<Request>();

/** Marks `request` as one that came as HTTP/1.0. */
export function markHttp10(request: Request): void {
  HTTP10.add(request);
}

/** The HTTP version `request` came with: "1.0" when marked so, else "1.1". */
export function httpVersionOf(request: Request): "1.0" | "1.1" {
  return HTTP10.has(request) ? "1.0" : "1.1";
}

const SETTLED: Promise<void> = Promise.resolve();

/**
 * Deno's `info.completed`: settles when the request under way is done (its response sent, or
 * its client gone). `completion` gives it (Exchange.completed), or nothing is under way.
 */
function completedOf(completion: (() => Promise<void>) | null): Promise<void> {
  return completion === null ? SETTLED : completion();
}

/** The handler's second argument; one per connection since the peer cannot change. */
// The app sees only getters and methods, as Deno's own info (`console.log(info)` shows
// `ServeHandlerInfo {}`): what a ServeInfo keeps is #private, so logging, spreading or
// JSON.stringify of `info` shows no socket, hub or callback of appserve's.
export class ConnInfo extends ServerMembers implements ServeInfo {
  readonly #remoteAddr: RemoteAddr;
  #completion: (() => Promise<void>) | null = null;
  readonly #family: string;
  readonly #hub: WebSocketHub | undefined;
  readonly #socket: Socket;
  readonly #unix: boolean;
  readonly #scheme: "http" | "https";
  #listenerURL: URL | undefined;

  /** `unix`: the listener's unixRemote() on a unix socket, null on TCP. */
  constructor(
    socket: Socket,
    unix: RemoteAddr | null,
    hub?: WebSocketHub,
    scheme: "http" | "https" = "http",
  ) {
    super();
    this.#hub = hub;
    this.#socket = socket;
    this.#unix = unix !== null;
    this.#scheme = scheme;
    // node:net reports no address for unix-socket peers in either runtime.
    if (unix !== null || socket.remoteAddress === undefined) {
      this.#remoteAddr = unix ?? NO_REMOTE;
      this.#family = "";
    } else {
      this.#remoteAddr = {
        transport: "tcp",
        hostname: socket.remoteAddress ?? "",
        port: socket.remotePort ?? 0,
      };
      this.#family = socket.remoteFamily ?? "";
    }
  }

  get remoteAddr(): RemoteAddr {
    return this.#remoteAddr;
  }

  /** The connection's Exchange.completed, set once the exchange exists. */
  get completion(): (() => Promise<void>) | null {
    return this.#completion;
  }

  set completion(completion: (() => Promise<void>) | null) {
    this.#completion = completion;
  }

  requestIP(): { address: string; family: string; port: number } | null {
    const r = this.#remoteAddr;
    return r.transport === "unix"
      ? null
      : { address: r.hostname, family: this.#family, port: r.port };
  }

  // The local end, read when asked: a connection came on one listener, which is Bun's `server`.
  get port(): number {
    return this.#unix ? 0 : this.#socket.localPort ?? 0;
  }

  get hostname(): string {
    return this.#unix ? "localhost" : this.#socket.localAddress ?? "localhost";
  }

  get url(): URL {
    return this.#listenerURL ??= listenerUrl(this.#scheme, this.hostname, this.port);
  }

  get completed(): Promise<void> {
    return completedOf(this.#completion);
  }

  upgrade(request: Request, options?: { data?: unknown; headers?: HeadersInit }): boolean {
    return this.#hub?.upgradeBun(request, options) ?? false;
  }

  publish(topic: string, data: string | ArrayBufferLike | ArrayBufferView, compress?: boolean) {
    return this.#hub?.publish(topic, data, compress) ?? 0;
  }

  timeout(): void {}
}

/** A ServeInfo for a client address reported by a trusted proxy (headers or PROXY protocol). */
export class PeerInfo extends ServerMembers implements ServeInfo {
  readonly #remoteAddr: RemoteAddr;
  readonly #hub: WebSocketHub | undefined;
  /** As ConnInfo's: what `completed` is (the connection's, or the native server's). */
  readonly #completion: (() => Promise<void>) | null;
  /** The listener the connection came on stays the one it was. */
  readonly #listener: Pick<ServeInfo, "port" | "hostname" | "url"> | undefined;

  constructor(
    remote: RemoteAddr,
    hub?: WebSocketHub,
    completion: (() => Promise<void>) | null = null,
    listener?: Pick<ServeInfo, "port" | "hostname" | "url">,
  ) {
    super();
    this.#remoteAddr = remote;
    this.#hub = hub;
    this.#completion = completion;
    this.#listener = listener;
  }

  get remoteAddr(): RemoteAddr {
    return this.#remoteAddr;
  }

  get port(): number | undefined {
    return this.#listener?.port;
  }

  get hostname(): string | undefined {
    return this.#listener?.hostname;
  }

  get url(): URL | undefined {
    return this.#listener?.url;
  }

  get completed(): Promise<void> {
    return completedOf(this.#completion);
  }

  upgrade(request: Request, options?: { data?: unknown; headers?: HeadersInit }): boolean {
    return this.#hub?.upgradeBun(request, options) ?? false;
  }

  publish(topic: string, data: string | ArrayBufferLike | ArrayBufferView, compress?: boolean) {
    return this.#hub?.publish(topic, data, compress) ?? 0;
  }

  timeout(): void {}

  requestIP(): { address: string; family: string; port: number } | null {
    const r = this.#remoteAddr;
    if (r.transport === "unix") return null;
    return {
      address: r.hostname,
      family: r.hostname.includes(":") ? "IPv6" : "IPv4",
      port: r.port,
    };
  }
}

/**
 * The method as Fetch will report it. Fetch upper-cases six standard methods spelled in any case,
 * but the parser lets no lower-case letter through, so that is the method as sent.
 */
export function fetchMethod(method: string): string {
  return method;
}

/** Fetch refuses a body on these (Deno throws); one sent with them is skipped off the wire. */
export function isBodyless(method: string): boolean {
  return method === "GET" || method === "HEAD";
}

/**
 * Builds the app's Request. `method` is `fetchMethod(head.method)`; `body` is null for a request
 * without one. `scheme` is the connection's, or the one a trusted proxy reported: never the one an
 * absolute-form target names. Its `signal` aborts when the exchange says so (abortRequestSignal).
 * Throws ParseError: 400 for what the URL parser or Headers refuse, 501 for a method the runtime's
 * Request would not carry unchanged.
 */
export function buildRequest(
  head: RequestHead,
  method: string,
  body: ReadableStream<Uint8Array> | null,
  options: HttpOptions,
  scheme: string = options.scheme,
): Request {
  const path = head.path;
  const prefix = scheme + "://" + (head.host || options.defaultHost || "localhost");
  // Origin-form is the common case (an absolute-form target's path is one too); `*` has no path.
  const url = path.charCodeAt(0) === 47 ? prefix + path : prefix + "/*";
  let request: Request;
  try {
    // Headers are appended to the new Request rather than passed in the init: the init path
    // converts them through WebIDL first and costs noticeably more in both runtimes.
    request = method === "GET"
      ? new AppRequest(url)
      : body === null
      ? new AppRequest(url, { method: head.method })
      : new AppRequest(url, { method: head.method, body, duplex: "half" } as StreamingInit);
    const h = request.headers;
    const pairs = head.headers;
    for (let i = 0; i < pairs.length; i++) h.append(pairs[i][0], pairs[i][1]);
  } catch {
    throw new ParseError(400, "request target or header refused by the URL or Headers parser");
  }
  // Any method token must reach the app as sent. Bun's Request turns methods it does not know into
  // GET: the Request just built is the test, so no list of methods per runtime is kept. The six
  // methods Fetch normalises, which every runtime carries, skip the getter.
  const m = head.method;
  if (
    m !== "GET" && m !== "POST" && m !== "PUT" && m !== "DELETE" && m !== "HEAD" &&
    m !== "OPTIONS" && request.method !== m
  ) {
    throw new ParseError(501, `method "${m}" cannot be passed on unchanged by this runtime`);
  }
  return request;
}
