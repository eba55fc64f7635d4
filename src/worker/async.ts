// The async worker class: requests run concurrently on the runtime's event
// loop, on the inherited sockets (appserve's HTTP/1.1 layer) or, in
// reuse-port mode, on the runtime's native server.

import type { Config } from "../config/settings.ts";
import { createHttpServer } from "../http/server.ts";
import type { FetchHandler, HttpOptions } from "../http/types.ts";
import type { WorkerBoot } from "../ipc/messages.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime/types.ts";
import { appErrorResponder } from "./app_error.ts";

/** A running server of this worker; stop() is graceful within the given ms. */
export interface Serving {
  stop(graceMs: number): Promise<void>;
}

function httpOptions(config: Config, log: Logger, access?: Logger): HttpOptions {
  return {
    onRequestDone: access &&
      ((request, response, durationMs, details) =>
        access.access({ request, response, details, durationMs, end: new Date() })),
    keepAlive: config.keepalive,
    limitRequestLine: config.limit_request_line,
    limitRequestFields: config.limit_request_fields,
    limitRequestFieldSize: config.limit_request_field_size,
    scheme: "http",
    defaultHost: "localhost",
    onAppError: appErrorResponder(log),
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
    access.access({
      request,
      response,
      durationMs: performance.now() - start,
      end: new Date(),
      details: {
        remote: info.remoteAddr,
        protocol: "HTTP/1.1",
        target: url.pathname + url.search,
        bodyBytes: Number(response.headers.get("content-length") ?? 0),
      },
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

/** Starts serving every listener of this worker. */
export async function serveAsync(
  handler: FetchHandler,
  boot: WorkerBoot,
  ctx: { config: Config; log: Logger; runtime: Runtime; access?: Logger },
): Promise<Serving[]> {
  const servings: Serving[] = [];
  const options = httpOptions(ctx.config, ctx.log, ctx.access);
  for (const listener of boot.listeners) {
    const server = createHttpServer(handler, options);
    await server.listen({ fd: listener.fd });
    servings.push({ stop: (ms) => withDeadline(server.close(), ms, () => server.closeNow()) });
  }
  for (const address of boot.reusePort) {
    const app = ctx.access ? logged(handler, ctx.access) : handler;
    const server = await ctx.runtime.serveNative(guarded(app, ctx.log), {
      hostname: address.host,
      port: address.port,
    });
    servings.push({ stop: (ms) => withDeadline(server.shutdown(), ms, () => {}) });
  }
  return servings;
}
