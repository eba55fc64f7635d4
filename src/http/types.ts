// Shared shapes of appserve's HTTP/1.1 layer: what the app handler receives,
// what the worker configures and the error the parsers throw. Kept apart so
// worker code and the header readers can use them without importing the parser.

import type { Socket } from "node:net";
import type { RemoteAddr } from "../fetch_handler.ts";
import type { AddressMatcher } from "../net/ip_match.ts";
import type { FileBody, RequestSignalBehaviour } from "../runtime/types.ts";
import type { WebSocketHub } from "./websocket/hub.ts";

// The app contract is defined below src/runtime/; the HTTP layer's callers find it here too.
export type { FetchHandler, RemoteAddr, ServeInfo } from "../fetch_handler.ts";

/** What the access log needs beyond the Request and Response. */
export interface RequestDetails {
  remote: RemoteAddr;
  /**
   * `-` when the request line is not known: a request a gthread worker process answered for a
   * hung thread, past the thread's in-flight table (its `%(r)s` is `- - -`).
   */
  protocol: "HTTP/1.0" | "HTTP/1.1" | "-";
  /** The request target exactly as received (path and query). */
  target: string;
  /** Response body bytes written; for a WebSocket session (status 101), every byte sent. */
  bodyBytes: number;
  /** For a WebSocket session (status 101): every byte received after the request head. */
  bytesIn?: number;
  // The head's fields appserve's writer decides rather than the app, as it sent them (absent
  // where the runtime's own server wrote the head: the app's headers are all that is known).
  /** The Content-Length sent, -1 for none. */
  sentLength?: number;
  /** A Content-Type the writer added (one the runtime keeps out of `response.headers`), or null. */
  sentType?: string | null;
  /** Whether the body was sent with `Transfer-Encoding: chunked`. */
  sentChunked?: boolean;
  /**
   * The request's header fields as received (names in their own case), when
   * appserve's HTTP layer parsed them: cheaper to scan than `request.headers`.
   */
  rawHeaders?: readonly (readonly [string, string])[];
}

/**
 * Told of every connection and exchange of a server. gthread threads use it so
 * the worker process can answer for a thread that hangs (src/worker/gthread.ts).
 */
export interface ExchangeWatch {
  /** A connection starts; returns the tag the calls below get for it. */
  opened(socket: Socket): number;
  /** The app is given a request of the connection (`http10`: an HTTP/1.0 one). */
  started(tag: number, http10?: boolean): void;
  /** Its response is about to be written; false: it was answered elsewhere, drop it. */
  answering(tag: number): boolean;
  /** The exchange is over (the connection may take another). */
  finished(tag: number): void;
  /** The connection is gone. */
  closed(tag: number): void;
  /**
   * A quick stop ended the exchange's response under way, whose access line is written: it is
   * still named as in flight (for the quick stop's WARNING), as logged.
   */
  logged?(tag: number): void;
  /**
   * The exchange's response streams: its head went out with `status` (given once, with the
   * first body bytes), and `bytes` of its body so far (each chunk after). A worker that dies now
   * leaves its access line to say what its client got.
   */
  sent?(tag: number, bytes: number, status?: number): void;
  /**
   * A connection accepted past the limit waits unread (parked); returns the tag unparked() gets
   * (gthread: it is shown to the worker process, which answers it if the thread hangs).
   */
  parked?(socket: Socket): number;
  /**
   * The parked connection leaves the wait; false: it was answered elsewhere, and its socket is
   * only to be closed.
   */
  unparked?(tag: number): boolean;
}

/** A request the parser refuses; `status` is what goes on the wire before the connection closes. */
export class ParseError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "ParseError";
    this.status = status;
  }
}

/** What forwarded_allow_ips and secure_scheme_headers configure. */
export interface ForwardedTrust {
  /** Peers whose forwarding headers are believed. */
  readonly allow: AddressMatcher;
  /** Lower-cased header name → the value that means HTTPS. */
  readonly secure: ReadonlyMap<string, string>;
  /** First letters (lower case) of every header name of interest, to skip the rest cheaply. */
  readonly initials: ReadonlySet<number>;
}

/** Whether a connection may start with a PROXY protocol header, and which versions. */
export type ProxyMode = "off" | "v1" | "v2" | "auto";

/** What header_map does with a field whose name holds `_`. */
export type HeaderMap = "drop" | "refuse" | "dangerous";

/** Tuning of one HTTP/1.1 server; every field has gunicorn's default. */
export interface HttpOptions {
  /** Seconds an idle keep-alive connection is kept open (gunicorn `keepalive`). @default 2 */
  keepAlive: number;
  /** Max bytes of the request line, 0 = unlimited (gunicorn `limit_request_line`). @default 4094 */
  limitRequestLine: number;
  /** Max number of header fields (gunicorn `limit_request_fields`). @default 100 */
  limitRequestFields: number;
  /** Max bytes of one header line, 0 = unlimited (gunicorn `limit_request_field_size`). @default 8190 */
  limitRequestFieldSize: number;
  /**
   * Seconds a request body may go without a byte while the app waits for it; then 408 and close
   * (appserve `body_timeout`). @default 30
   */
  bodyTimeout?: number;
  /** Max bytes of a request body, 0 = unlimited (appserve `limit_request_body`). @default 0 */
  limitRequestBody?: number;
  /**
   * Header fields whose name holds `_` (gunicorn `header_map`): "drop" leaves them out of the
   * Request, "refuse" answers 400, "dangerous" passes them on. @default "drop"
   */
  headerMap?: HeaderMap;
  /** Proxy trust (forwarded_allow_ips, secure_scheme_headers); without it none is believed. */
  forwarded?: ForwardedTrust;
  /** Accept a PROXY protocol header first on each connection (gunicorn `proxy_protocol`). */
  proxyProtocol?: ProxyMode;
  /** Peers allowed to send a PROXY header (gunicorn `proxy_allow_ips`). */
  proxyAllow?: AddressMatcher;
  /** Scheme used to build `request.url`. @default "http" */
  scheme: "http" | "https";
  /** Fallback `Host` when a request has none (HTTP/1.0). */
  defaultHost: string;
  /**
   * A Response's body without reading its stream, when the runtime keeps it as a string or bytes
   * (Runtime.staticBody); null: read `response.body`. None: always read the stream.
   */
  staticBody?(response: Response): string | Uint8Array | null;
  /**
   * The Content-Type a Response's body implies when the app's headers have none
   * (Runtime.impliedType); none: only the app's.
   */
  impliedType?(response: Response): string | null;
  /** The length of a body known without reading it (Runtime.knownLength), else -1. */
  knownLength?(response: Response): number;
  /**
   * Whether the runtime's fetch() decoded a Response's body, so that its Content-Encoding and
   * Content-Length describe the bytes before decoding (Runtime.decodedBody); none: never.
   */
  decodedBody?(response: Response): boolean;
  /**
   * What an app-set Content-Length means for a streamed body (Runtime.streamLength): "declared",
   * it is sent and the body cut or closed short to it; "actual", it is ignored. @default "declared"
   */
  streamLength?: "declared" | "actual";
  /**
   * The file a Response's body is (Runtime.fileBody): Range requests are answered from a whole
   * one, and the writer adds the fields the runtime's server adds for it.
   */
  fileBody?(response: Response): FileBody | null;
  /**
   * How `request.signal` aborts, as the runtime's native server has it (Runtime.requestSignal).
   * It always aborts when the client goes away (or the server cuts the connection) while the
   * request is under way. @default {{ message: "The connection was closed.", afterResponse: false }}
   */
  requestSignal?: RequestSignalBehaviour;
  /** Called for an exception thrown by the app (or a rejected promise); returns the 500 to send. */
  onAppError(error: unknown, request: Request): Response;
  /** WebSockets: requests the app may upgrade, and the sessions. None: no upgrade is offered. */
  websocket?: WebSocketHub;
  /** Watches connections and exchanges (gthread threads). */
  watch?: ExchangeWatch;
  /** Called once per finished request, after its response is written (access logs). */
  onRequestDone?(
    request: Request,
    response: Response,
    durationMs: number,
    details: RequestDetails,
  ): void;
  /** Called when a response body the app gave fails after its head was sent (the reply is cut). */
  onBodyError?(error: unknown, request: Request): void;
  /**
   * Called for a request rejected by the parser (status 400/414/431/...), before the error reply,
   * and for a request body refused (413, 408, 400); status 0 for a TLS handshake begun but not
   * completed in time (the connection is closed, no reply). `remote`: the client, as far as it is
   * known; `peer`: the connection's peer, when that is another (a proxy that named the client).
   */
  onBadRequest?(status: number, reason: string, remote: RemoteAddr, peer?: RemoteAddr): void;
  /**
   * gunicorn's DEBUG lines about a connection (closed, reset, a failed TLS handshake, a client gone
   * mid-head). Set only when the log level is debug, so that at info no line is even formatted.
   */
  onDebug?(message: string): void;
}
