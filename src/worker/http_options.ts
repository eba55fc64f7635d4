// The options of appserve's HTTP layer for a configuration, in one place: the
// async and sync classes serve with them in the worker process, gthread's
// threads in each thread (workers/thread_entry.ts).

import type { Config } from "../config/settings.ts";
import { forwardedTrust } from "../http/forwarded.ts";
import type { HttpServerOptions } from "../http/server.ts";
import type { Logger } from "../log/logger.ts";
import { AddressMatcher } from "../net/ip_match.ts";
import type { TlsAcceptor } from "../http/tls_accept.ts";
import type { WebSocketHub } from "../http/websocket/hub.ts";
import type { FileBody, RequestSignalBehaviour } from "../runtime/types.ts";
import { appErrorResponder, bodyErrorLogger } from "./app_error.ts";

/**
 * The logger that gets `access()` per finished request: the worker's own, when
 * an access log (a file, a stream or syslog), statsd (which counts requests) or
 * a custom logger class wants it.
 */
export function accessLogger(config: Config, log: Logger): Logger | undefined {
  return log.accessEnabled || config.statsd_host || config.logger_class ? log : undefined;
}

export interface HttpOptionsOptions {
  /** Whether the worker class keeps connections alive between requests (sync does not). */
  keepAlive: boolean;
  /** Gets `access()` per finished request (accessLogger()); none: no access log. */
  access?: Logger;
  /** Serve HTTPS through this (tlsAcceptor()); none: plain HTTP. */
  tls?: TlsAcceptor;
  /** An app error as one line, when the runtime has one (Runtime.explainAppError). */
  explain?: (error: unknown) => string | undefined;
  /** A Response's body without its stream, when the runtime keeps one (Runtime.staticBody). */
  staticBody?: (response: Response) => string | Uint8Array | null;
  /** The type a body implies when the app's headers have none (Runtime.impliedType). */
  impliedType?: (response: Response) => string | null;
  /** The length of a body known without reading it (Runtime.knownLength). */
  knownLength?: (response: Response) => number;
  /** Whether fetch() decoded a body (Runtime.decodedBody). */
  decodedBody?: (response: Response) => boolean;
  /** What an app-set Content-Length means for a streamed body (Runtime.streamLength). */
  streamLength?: "declared" | "actual";
  /** The whole file a body is, for Range requests (Runtime.fileBody). */
  fileBody?: (response: Response) => FileBody | null;
  /** The WebSockets requests may be upgraded to; none: upgrade requests get the app's answer. */
  websocket?: WebSocketHub;
  /** How `request.signal` aborts, as under the runtime's native server (Runtime.requestSignal). */
  requestSignal?: RequestSignalBehaviour;
}

/** The HTTP layer's options for this configuration. */
export function httpOptions(
  config: Config,
  log: Logger,
  {
    keepAlive,
    access,
    tls,
    explain,
    staticBody,
    impliedType,
    knownLength,
    decodedBody,
    streamLength,
    fileBody,
    websocket,
    requestSignal,
  }: HttpOptionsOptions,
): HttpServerOptions {
  return {
    onRequestDone: access &&
      ((request, response, durationMs, details) =>
        access.access({ request, response, details, durationMs, end: new Date() })),
    keepAlive: keepAlive ? config.keepalive : 0,
    limitRequestLine: config.limit_request_line,
    limitRequestFields: config.limit_request_fields,
    limitRequestFieldSize: config.limit_request_field_size,
    limitRequestBody: config.limit_request_body,
    headerMap: config.header_map,
    forwarded: forwardedTrust(config.forwarded_allow_ips, config.secure_scheme_headers),
    proxyProtocol: config.proxy_protocol,
    proxyAllow: new AddressMatcher(config.proxy_allow_ips),
    scheme: tls ? "https" : "http",
    tls,
    defaultHost: "localhost",
    websocket,
    onAppError: appErrorResponder(log, explain),
    staticBody,
    impliedType,
    knownLength,
    decodedBody,
    streamLength,
    fileBody,
    requestSignal,
    onBodyError: bodyErrorLogger(log),
    bodyTimeout: config.body_timeout,
    onAcceptError: (message) => log.warning(message),
    backlog: config.backlog,
    onBadRequest: (status, reason, remote, peer) =>
      log.warning(
        `Invalid request from ip=${remote.hostname || "unix"}` +
          `${peer ? ` (via ${peer.hostname || "unix"})` : ""}: ${reason}` +
          (status ? ` (${status})` : ""),
      ),
    onDebug: log.isEnabledFor("debug") ? (message) => log.debug(message) : undefined,
  };
}
