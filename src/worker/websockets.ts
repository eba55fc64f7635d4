// The WebSockets of one worker process or gthread thread: the hub appserve's HTTP layer upgrades
// through, made from the settings, and the app-facing upgrade functions installed before the app
// is imported (Deno.upgradeWebSocket under Deno; mod.ts upgradeWebSocket everywhere).

import type { Config } from "../config/settings.ts";
import type { AppHandler, WebSocketUpgrader } from "../fetch_handler.ts";
import { WebSocketHub } from "../http/websocket/hub.ts";
import { AppWebSocket } from "../http/websocket/app_socket.ts";
import type { TopicReach } from "../http/websocket/bun_socket.ts";
import { handshakeRefusal } from "../http/websocket/handshake_refusal.ts";
import { APP_ERROR_CODE } from "../http/websocket/handler_guard.ts";
import { guardNativeSocket } from "./native_socket_guard.ts";
import { logAppError } from "./app_error.ts";
import { accessLogger } from "./http_options.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime/types.ts";

/** Bytes that may wait unsent on one WebSocket: Bun.serve's backpressureLimit. */
export const WEBSOCKET_SEND_LIMIT = 16 * 1024 * 1024;

/** Where mod.ts's upgradeWebSocket finds this process's (or thread's) upgrade function. */
export const UPGRADER_KEY: symbol = Symbol.for("appserve.upgradeWebSocket");

/**
 * The hub for this configuration, reporting to `log`, and its open sockets to `counted` too
 * (the worker's counters, for the master to sum; a gthread thread's slots too).
 */
export function webSocketHub(
  config: Config,
  log: Logger,
  counted?: (open: number) => void,
): WebSocketHub {
  return new WebSocketHub({
    maxMessage: config.websocket_max_message,
    idleTimeout: config.websocket_idle_timeout,
    sendLimit: WEBSOCKET_SEND_LIMIT,
    warn: (message) => log.warning(message),
    reach: topicReach(config),
    appError: webSocketAppError(log),
    // The log first: `counted` may count what it counted (Logger.websocketSessions).
    onCount: (open, opened) => {
      log.websockets(open, opened);
      counted?.(open);
    },
  });
}

/** The hubs serving, each with topics of its own: --threads counts only under gthread. */
function topicReach(config: Config): TopicReach {
  return {
    workers: config.workers,
    threads: config.worker_class === "gthread" ? Math.max(1, config.threads) : 1,
  };
}

/**
 * How an app's WebSocket handler that threw or rejected is logged: at ERROR with its stack, as
 * an HTTP app error is (app_error.ts), naming the handler and the upgrade request's target.
 */
export function webSocketAppError(
  log: Logger,
): (error: unknown, handler: string, target: string) => void {
  return (error, handler, target) =>
    logAppError(
      log,
      `Error in the WebSocket handler ${handler} of GET ${target}; ` +
        `the socket is closed with ${APP_ERROR_CODE}`,
      error,
    );
}

/** What installWebSockets works with. */
export interface InstallWebSocketsOptions {
  hub: WebSocketHub;
  config: Config;
  /** Whether it writes access lines decides if native sessions' bytes are counted. */
  log: Logger;
}

/**
 * Installs the app-facing upgrade functions of this process or thread: call before the app is
 * imported, so modules that keep a reference to `Deno.upgradeWebSocket` keep ours.
 */
export function installWebSockets(
  runtime: Runtime,
  { hub, config, log }: InstallWebSocketsOptions,
): void {
  // The bytes of native sessions are counted only for an access line.
  const count = accessLogger(config, log) !== undefined;
  const appError = webSocketAppError(log);
  const upgrade: WebSocketUpgrader = runtime.installWebSocketUpgrade(hub.upgrader, {
    idleTimeout: config.websocket_idle_timeout,
    upgraded: (u, request, left) => {
      const url = new URL(request.url);
      hub.nativeUpgraded(
        u,
        guardNativeSocket(u.socket, {
          maxMessage: config.websocket_max_message,
          limit: hub.sendLimit,
          count,
          failed: (error, handler) => appError(error, handler, url.pathname + url.search),
        }),
        left,
      );
    },
    refuse: (request) => {
      const response = handshakeRefusal(request);
      if (response === null) return undefined;
      // Deno.serve keeps the connection after it (it ignores the header): it would say untrue.
      response.headers.delete("connection");
      // The app's socket never opens, as on appserve's layer when a handshake is refused.
      return { socket: new AppWebSocket(request.url) as unknown as WebSocket, response };
    },
  });
  (globalThis as Record<symbol, unknown>)[UPGRADER_KEY] = upgrade;
}

/** `wrapped` (the app with hooks and spans around it) still carries the app's `websocket`. */
export function keepWebSocketHandlers(app: AppHandler, wrapped: AppHandler): AppHandler {
  if (app.websocket !== undefined) wrapped.websocket = app.websocket;
  return wrapped;
}
