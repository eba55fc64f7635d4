/**
 * appserve: gunicorn's operating model for Web-standard `fetch` apps on Deno
 * and Bun. A master process pre-forks worker processes that share one
 * listening socket; each worker runs your app.
 *
 * Most people use the `appserve` executable:
 *
 * ```sh
 * appserve -w 4 -b unix:/run/app.sock server.ts:app
 * ```
 *
 * An app is any object with a `fetch(request, info)` method (a Hono app, a
 * module written for `deno serve` or `Bun.serve`) or a plain function:
 *
 * ```ts
 * import type { FetchHandler } from "appserve";
 *
 * const handler: FetchHandler = (request, info) =>
 *   new Response(`hello ${info.remoteAddr.hostname}`);
 * export default { fetch: handler };
 * ```
 *
 * @module
 */

import process from "node:process";
import { fileURLToPath } from "node:url";
import { ExitCode } from "./src/exit_codes.ts";
import { Logger as OwnLogger } from "./src/log/logger.ts";
import { VERSION } from "./src/version.ts";

export type { FetchHandler, RemoteAddr, ServeInfo } from "./src/http/types.ts";
export type { UpgradeOptions, WebSocketHandlers, WebSocketUpgrade } from "./src/fetch_handler.ts";
import type { UpgradeOptions, WebSocketUpgrade } from "./src/fetch_handler.ts";
export type { Config } from "./src/config/settings.ts";
/**
 * The error and access log of master and workers; subclass it for
 * `--logger-class` (see {@link Logger} for a JSON-lines example). Override
 * `formatError` or `formatAccess` to change a line, `writeError` or
 * `writeAccess` to send it elsewhere; `reopen()` runs on USR1, `close()` at exit.
 * `websockets(open, opened)` is told of each WebSocket opened or closed, with
 * how many the worker has open (under gthread, the thread).
 * A method of the subclass that throws falls back to Logger's for that call.
 * `critical`, `error`, `warning`, `info`, `debug` and `log` take Python
 * logging's arguments, as gunicorn's hooks pass them: with arguments after the
 * message, its `%s`, `%d`, `%r` and `%%` are filled in; without, the message
 * is written as it is.
 *
 * @example
 * ```ts
 * import { Logger } from "appserve";
 * const log = new Logger({ level: "debug", accessLog: "-" });
 * log.info("Booting worker with pid: 42");
 * log.info("Worker spawned (pid: %s)", 42);
 * await log.close();
 * ```
 */
export const Logger: typeof OwnLogger = runningLogger() ?? OwnLogger;
export type Logger = OwnLogger;
export type { LoggerOptions, LogLevel } from "./src/log/logger.ts";

// A project that maps "appserve" to its own copy of this module still gets, inside a running
// appserve worker, that process's Logger (src/log/logger_class.ts), so its subclasses are
// instances of the class the worker checks against.
function runningLogger(): typeof OwnLogger | undefined {
  const provided = (globalThis as Record<symbol, { Logger?: typeof OwnLogger } | undefined>)[
    Symbol.for("appserve.module:appserve")
  ];
  return provided?.Logger;
}
/**
 * One finished request, as `Logger.access` and `Logger.formatAccess` receive it.
 * Plain data (`request`, `response`, `details`, `durationMs`, and `end`, the
 * Date the response finished), so a copy (`{ ...entry }`), destructuring and
 * `JSON.stringify` keep every field.
 *
 * @example
 * ```ts
 * import { type AccessEntry, Logger } from "appserve";
 *
 * export class ShortLogger extends Logger {
 *   override formatAccess({ request, response, durationMs, end }: AccessEntry): string {
 *     return `${end.toISOString()} ${request.method} ${response.status} ${durationMs}ms`;
 *   }
 * }
 * ```
 */
export type { AccessEntry } from "./src/log/access_format.ts";
/**
 * The hooks a `--hooks` module may export (gunicorn's server hooks), with their arguments:
 * `server` is the master ({@link ServerInfo}), `worker` a worker ({@link WorkerInfo}), whose `log`
 * is gunicorn's `worker.log`. `post_request(worker, request, response)` has no `environ`.
 *
 * @example
 * ```ts
 * import type { WorkerInfo } from "appserve";
 *
 * export function pre_request(worker: WorkerInfo, request: Request): void {
 *   worker.log.info(`${request.method} ${new URL(request.url).pathname}`);
 * }
 * ```
 */
export type { Hooks, ServerInfo, WorkerInfo } from "./src/hooks.ts";
export type { RequestDetails } from "./src/http/types.ts";
export { VERSION } from "./src/version.ts";

/**
 * Upgrades a WebSocket request, the same way under Deno and Bun workers, on the shared socket
 * and with `--reuse-port`: Deno's `upgradeWebSocket` contract. Return `response` (a 101) from
 * the handler; `socket` is a WebSocket-like EventTarget (`onopen`, `onmessage`, `onclose`,
 * `onerror`, `addEventListener`, `send`, `close`, `readyState`, `protocol`, `bufferedAmount`)
 * that opens once the handshake is done. Messages past `--websocket-max-message` close the
 * socket with 1009; a client that lets more than 16 MiB pile up unsent gets 1008.
 *
 * @param request The request the handler got (with `Upgrade: websocket`).
 * @param options `protocol`: the subprotocol to answer with; `idleTimeout`: seconds without a
 * pong before the socket is closed (default `--websocket-idle-timeout`).
 * @returns The socket and the response to return.
 * @throws {TypeError} When the request asks for no WebSocket, or outside an appserve worker.
 * @example
 * ```ts
 * import { upgradeWebSocket } from "appserve";
 *
 * export default {
 *   fetch(request: Request): Response {
 *     if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
 *       return new Response("a WebSocket echo lives here\n");
 *     }
 *     const { socket, response } = upgradeWebSocket(request);
 *     socket.onmessage = (event) => socket.send(event.data);
 *     return response;
 *   },
 * };
 * ```
 */
export function upgradeWebSocket(request: Request, options?: UpgradeOptions): WebSocketUpgrade {
  // Installed by the worker process or thread before the app was imported
  // (src/worker/websockets.ts): this module may be the project's own copy.
  const upgrade = (globalThis as Record<symbol, unknown>)[Symbol.for("appserve.upgradeWebSocket")];
  if (typeof upgrade !== "function") {
    throw new TypeError("upgradeWebSocket() works only inside an appserve worker");
  }
  return upgrade(request, options);
}

/**
 * Runs the appserve command line in this process, as the executable does.
 * The CLI is loaded on first call: worker processes import this module too
 * (for a `--logger-class`) and need none of it. Inside a Deno worker
 * process, whose bundle leaves the command line out, it throws.
 *
 * @param argv The arguments, without the program name.
 * @returns The exit code once the master stops (or the action, such as
 * `--check-config`, is done). A bad configuration or a failed start is said
 * in one line on stderr, as the executable says it, and gives its exit code.
 * @example
 * ```ts
 * import { main } from "appserve";
 * const code = await main(["-w", "2", "-b", "127.0.0.1:8000", "server.ts"]);
 * ```
 */
export async function main(argv: string[]): Promise<number> {
  const { runCommandLine } = await import("./src/cli/run_cli.ts").catch((error) => {
    // The Deno worker bundle leaves the command line out (src/master/worker_bundle.ts).
    if (error?.code !== "ERR_MODULE_NOT_FOUND" || !`${error.message}`.includes("run_cli")) {
      throw error;
    }
    throw new Error("main() runs appserve's command line, which a Deno worker does not hold");
  });
  // What a --logger-class module's `import ... from "appserve"` gets: every value exported here.
  return await runCommandLine(argv, { appserve: { Logger, VERSION, main, upgradeWebSocket } });
}

// `deno run mod.ts` would otherwise do nothing and exit 0: the command line is src/cli/main.ts.
// (The worker bundle and the binary inline this module into an entry whose URL is not this one.)
if (import.meta.main && /^file:.*\/mod\.ts$/.test(import.meta.url)) {
  const here = fileURLToPath(import.meta.url);
  const cli = here.replace(/mod\.ts$/, "src/cli/main.ts");
  process.stderr.write(
    `Error: ${here} is appserve's module, not its command line: ` +
      `run ${cli} (deno run -A ${cli} ...), or the appserve that deno install made of it\n`,
  );
  process.exit(ExitCode.USAGE_ERROR);
}
