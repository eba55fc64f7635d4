// The async worker class: requests run concurrently on the runtime's event
// loop, on the inherited sockets (appserve's HTTP/1.1 layer) or, in
// reuse-port mode, on the runtime's native server.

import type { Config } from "../config/settings.ts";
import { forwardedTrust } from "../http/forwarded.ts";
import { AddressMatcher } from "../net/ip_match.ts";
import { createHttpServer, type HttpServer, type HttpServerOptions } from "../http/server.ts";
import { tlsAcceptor } from "../http/tls_accept.ts";
import type { FetchHandler, RequestDetails } from "../http/types.ts";
import { loadTlsFiles, type TlsFiles } from "../tls/tls_files.ts";
import type { WorkerBoot } from "../ipc/messages.ts";
import type { Logger } from "../log/logger.ts";
import { accessRoute } from "../log/logging_table.ts";
import type { Runtime } from "../runtime/types.ts";
import { appErrorResponder, bodyErrorLogger } from "./app_error.ts";
import { workerClass } from "./registry.ts";
import { limitBody } from "./native_body_limit.ts";
import { trustForwarded } from "./native_forwarded.ts";

/** A running server of this worker; stop() is graceful within the given ms. */
export interface Serving {
  stop(graceMs: number): Promise<void>;
}

/**
 * The logger that gets `access()` per finished request: the worker's own, when
 * an access log, statsd (which counts requests) or a custom logger class wants it.
 */
export function accessLogger(config: Config, log: Logger): Logger | undefined {
  return accessRoute(config).file || config.statsd_host || config.logger_class ? log : undefined;
}

/** The HTTP layer's options for this configuration (also used by gthread threads). */
export function httpOptions(
  config: Config,
  log: Logger,
  access?: Logger,
  tls?: TlsFiles | null,
): HttpServerOptions {
  return {
    onRequestDone: access &&
      ((request, response, durationMs, details) =>
        access.access({ request, response, details, durationMs, end: new Date() })),
    keepAlive: workerClass(config).keepAlive ? config.keepalive : 0,
    limitRequestLine: config.limit_request_line,
    limitRequestFields: config.limit_request_fields,
    limitRequestFieldSize: config.limit_request_field_size,
    limitRequestBody: config.limit_request_body,
    headerMap: config.header_map,
    forwarded: forwardedTrust(config.forwarded_allow_ips, config.secure_scheme_headers),
    proxyProtocol: config.proxy_protocol,
    proxyAllow: new AddressMatcher(config.proxy_allow_ips),
    scheme: tls ? "https" : "http",
    tls: tls ? tlsAcceptor(tls) : undefined,
    defaultHost: "localhost",
    onAppError: appErrorResponder(log),
    onBodyError: bodyErrorLogger(log),
    bodyTimeout: config.body_timeout,
    onBadRequest: (status, reason, remote) =>
      log.warning(`Invalid request from ip=${remote.hostname || "unix"}: ${reason} (${status})`),
  };
}

// The native servers get the same 500 behaviour as appserve's own layer. Not an
// async function: a Response returned synchronously keeps Deno.serve's fast path.
function guarded(handler: FetchHandler, log: Logger): FetchHandler {
  const onError = appErrorResponder(log);
  const check = (response: unknown, request: Request): Response => {
    if (response instanceof Response) return response;
    return onError(new TypeError(`The app returned ${typeof response}, not a Response`), request);
  };
  return (request, info) => {
    try {
      const result = handler(request, info);
      if (result instanceof Response) return result;
      return Promise.resolve(result).then(
        (r) => check(r, request),
        (error) => onError(error, request),
      );
    } catch (error) {
      return onError(error, request);
    }
  };
}

// The native servers report no write completion: log when the app has answered,
// with the body size the response declares.
function logged(handler: FetchHandler, access: Logger): FetchHandler {
  return async (request, info) => {
    const start = performance.now();
    const response = await handler(request, info);
    const url = new URL(request.url);
    const details: RequestDetails = {
      remote: info.remoteAddr,
      protocol: "HTTP/1.1",
      target: url.pathname + url.search,
      bodyBytes: Number(response.headers.get("content-length") ?? 0),
    };
    access.access({
      request,
      response,
      details,
      durationMs: performance.now() - start,
      end: new Date(),
    });
    return response;
  };
}

function withDeadline(done: Promise<void>, ms: number, onLate: () => void): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onLate();
      resolve();
    }, ms);
  });
  return Promise.race([done, late]).finally(() => clearTimeout(timer));
}

/** Graceful close of a server; what is still open after `ms` is closed at once. */
export function closeWithin(server: HttpServer, ms: number): Promise<void> {
  return withDeadline(server.close(), ms, () => server.closeNow());
}

/** Starts serving every listener of this worker. */
export async function serveAsync(
  handler: FetchHandler,
  boot: WorkerBoot,
  ctx: {
    config: Config;
    log: Logger;
    runtime: Runtime;
    access?: Logger;
    gate: HttpServerOptions["gate"];
  },
): Promise<Serving[]> {
  const servings: Serving[] = [];
  const tls = loadTlsFiles(ctx.config, ctx.runtime.tlsClientCerts);
  const options = { ...httpOptions(ctx.config, ctx.log, ctx.access, tls), gate: ctx.gate };
  for (const listener of boot.listeners) {
    const server = createHttpServer(handler, options);
    await server.listen({ fd: listener.fd });
    servings.push({ stop: (ms) => closeWithin(server, ms) });
  }
  for (const address of boot.reusePort) {
    const limited = limitBody(
      handler,
      ctx.config.limit_request_body,
      (message) => ctx.log.warning(`Invalid request: ${message}`),
    );
    // Outermost, so the access log sees the client a trusted proxy named, and no field
    // header_map drops (as the parser leaves them out before anything reads them).
    const app = trustForwarded(
      ctx.access ? logged(limited, ctx.access) : limited,
      options.forwarded!,
      (m) => ctx.log.warning(m),
      { scheme: options.scheme, headerMap: ctx.config.header_map },
    );
    const server = await ctx.runtime.serveNative(guarded(app, ctx.log), {
      hostname: address.host,
      port: address.port,
      tls: tls ?? undefined,
    });
    servings.push({ stop: (ms) => withDeadline(server.shutdown(), ms, () => {}) });
  }
  return servings;
}
