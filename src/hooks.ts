// gunicorn's server hooks as a typed table with one runner. A hooks module
// (--hooks PATH) exports any of them; master hooks run in the master, worker
// hooks in the worker. A throwing hook is logged and contained, except
// on_starting, which aborts start-up, post_fork and post_worker_init, which
// fail the worker's boot, and pre_request, which fails its request (those
// three are run with call(), their callers handle the throw).

import { notAResponse } from "./http/status_reply.ts";
import type { FetchHandler, ServeInfo } from "./http/types.ts";
import process from "node:process";
import { pathToFileURL } from "node:url";
import type { Config } from "./config/settings.ts";
import { AppserveError, ConfigError, firstLine } from "./errors.ts";
import { resolveModulePath } from "./app/load_app.ts";
import { describeUserError } from "./app/user_error.ts";
import { errorDetail } from "./log/error_detail.ts";
import type { Logger } from "./log/logger.ts";

/** What master hooks receive as `server` (gunicorn's Arbiter). */
export interface ServerInfo {
  pid: number;
  config: Config;
  log: Logger;
  /** The target number of workers. */
  numWorkers: number;
}

/** What hooks receive as `worker` (gunicorn's Worker). */
export interface WorkerInfo {
  /** 0 in pre_fork: the worker is not started yet. */
  pid: number;
  /** Spawn counter: 1 for the first worker, growing with every spawn. */
  age: number;
  /**
   * gunicorn's `worker.log`: the logger of the process the hook runs in (the worker's, a gthread
   * thread's, or the master's in pre_fork and child_exit).
   */
  log: Logger;
}

/**
 * Every hook, with gunicorn's arguments in gunicorn's order, except where said. A hook may be
 * async (it is awaited); a throw (or a rejection) is logged with the hook's name and contained,
 * except, as gunicorn's: on_starting's aborts start-up; post_fork's and post_worker_init's fail
 * the worker's boot (exit 3: the master halts at start, and retries while other workers serve);
 * pre_request's fails its request (a 500). worker_exit's is logged as a WARNING.
 */
export interface Hooks {
  /** Master, before the listeners are bound. */
  on_starting(server: ServerInfo): unknown;
  /** Master, on HUP, once the configuration is read again, before the new workers start. */
  on_reload(server: ServerInfo): unknown;
  /** Master, once it listens, before the first workers start. */
  when_ready(server: ServerInfo): unknown;
  /** Master, before a worker is started: `worker.pid` is 0 (there is no process yet). */
  pre_fork(server: ServerInfo, worker: WorkerInfo): unknown;
  /**
   * Worker, before the app is imported. `server` is the master as the worker knows it (its pid,
   * the config, the worker's logger). gthread's threads run none.
   */
  post_fork(server: ServerInfo, worker: WorkerInfo): unknown;
  /** Worker, once the app is loaded (gthread: once every thread has loaded it). */
  post_worker_init(worker: WorkerInfo): unknown;
  /** Worker, on INT or QUIT, before it exits. */
  worker_int(worker: WorkerInfo): unknown;
  /** Worker, on ABRT (a --timeout), if its event loop still turns. */
  worker_abort(worker: WorkerInfo): unknown;
  /** Master, before USR2 starts a new master. */
  pre_exec(server: ServerInfo): unknown;
  /**
   * Worker (gthread: the thread), before the app gets `request`, a Web `Request`. Without one,
   * gunicorn's default runs: a DEBUG line `METHOD /path` (defaultPreRequest).
   */
  pre_request(worker: WorkerInfo, request: Request): unknown;
  /**
   * Worker (gthread: the thread), once the app returned `response`, or failed (a throw, a
   * rejection, no Response, --request-timeout): then `response` is the 500 (504) sent, as
   * gunicorn runs it in a `finally`. gunicorn's is
   * `post_request(worker, req, environ, resp)`: a fetch app has no environ, so there are three
   * arguments, the response third.
   */
  post_request(worker: WorkerInfo, request: Request, response: Response): unknown;
  /** Master, once a worker has exited. */
  child_exit(server: ServerInfo, worker: WorkerInfo): unknown;
  /** Worker, as it exits. `server` as in post_fork. */
  worker_exit(server: ServerInfo, worker: WorkerInfo): unknown;
  /** Master, when TTIN, TTOU or a reload changes the number of workers. */
  nworkers_changed(server: ServerInfo, newValue: number, oldValue: number): unknown;
  /** Master, as it exits. */
  on_exit(server: ServerInfo): unknown;
}

export type HookName = keyof Hooks;

export const HOOK_PROCESS: Readonly<Record<HookName, "master" | "worker">> = {
  on_starting: "master",
  on_reload: "master",
  when_ready: "master",
  pre_fork: "master",
  post_fork: "worker",
  post_worker_init: "worker",
  worker_int: "worker",
  worker_abort: "worker",
  pre_exec: "master",
  pre_request: "worker",
  post_request: "worker",
  child_exit: "master",
  worker_exit: "worker",
  nworkers_changed: "master",
  on_exit: "master",
};

/** The hooks a module exports, with a runner that logs and contains failures. */
export class HookRunner {
  constructor(readonly hooks: Partial<Hooks>, readonly log: Logger) {}

  /**
   * Loads PATH; a missing module or a non-function hook is a ConfigError. `specifier` gives what
   * to import for its file (HUP: a fresh import, Runtime.freshImport).
   */
  static async load(
    path: string,
    log: Logger,
    specifier = (file: string) => pathToFileURL(file).href,
  ): Promise<HookRunner> {
    if (!path) return new HookRunner({}, log);
    let mod: Record<string, unknown>;
    try {
      // Found first, as the app and the logger class are: the runtime's own "not found" names
      // the importer, which inside the binary is the binary itself.
      mod = await import(specifier(resolveModulePath(path, process.cwd())));
    } catch (error) {
      const why = error instanceof AppserveError
        ? error.message
        : describeUserError(error).headline;
      throw new ConfigError(`Cannot load hooks module ${path}: ${why}`);
    }
    for (const [name, value] of Object.entries(mod)) {
      if (name in HOOK_PROCESS && typeof value !== "function") {
        throw new ConfigError(`Hook "${name}" in ${path} is not a function`);
      }
    }
    return new HookRunner(mod as Partial<Hooks>, log);
  }

  has(name: HookName): boolean {
    return typeof this.hooks[name] === "function";
  }

  /**
   * Runs a hook; a throw is logged with the hook's name (on_starting's aborts start-up), a
   * worker_exit's as a warning, as gunicorn's.
   */
  async run<N extends HookName>(name: N, ...args: Parameters<Hooks[N]>): Promise<void> {
    try {
      await this.call(name, ...args);
    } catch (error) {
      if (name === "on_starting") {
        throw new ConfigError(`on_starting hook failed: ${firstLine(error)}`);
      }
      if (name === "worker_exit") {
        this.log.warning(`Exception during worker exit:\n${errorDetail(error)}`);
      } else this.log.exception(`Exception in ${name} hook`, error);
    }
  }

  /** Runs a hook and lets its throw (or rejection) through, for the caller to handle. */
  async call<N extends HookName>(name: N, ...args: Parameters<Hooks[N]>): Promise<void> {
    const hook = this.hooks[name] as ((...a: unknown[]) => unknown) | undefined;
    if (hook) await hook(...args);
  }
}

/**
 * gunicorn's default pre_request: a DEBUG line `METHOD /path` (the path without its query, as
 * gunicorn's `req.path`). A pre_request hook in the hooks module replaces it, as in gunicorn.
 */
export function defaultPreRequest(worker: WorkerInfo, request: Request): void {
  const url = request.url;
  // The path starts at the first "/" after the scheme's "//"; URL parsing would cost more.
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const query = url.indexOf("?", start);
  const path = start === -1 ? "/" : url.slice(start, query === -1 ? undefined : query);
  worker.log.debug(`${request.method} ${path}`);
}

/** The response to a request whose app failed, as the worker sends it (a logged 500). */
export type FailureAnswer = (error: unknown, request: Request, info: ServeInfo) => Response;

/**
 * The app wrapped in pre_request/post_request, when the hooks module has them, or in the default
 * pre_request when the worker's log level is debug. The level is read here, once: at info a
 * request pays nothing for it. As gunicorn's `finally`, post_request runs whatever the app (or
 * pre_request) did: a failure (a throw, a rejection, no Response) is answered here by `answer`,
 * and post_request gets that answer, the response that goes out.
 */
export function withRequestHooks(
  app: FetchHandler,
  hooks: HookRunner,
  worker: WorkerInfo,
  answer: FailureAnswer,
): FetchHandler {
  const user = hooks.has("pre_request");
  const debug = !user && worker.log.isEnabledFor("debug");
  const post = hooks.has("post_request");
  if (!user && !post) {
    if (!debug) return app;
    return (request, serveInfo) => {
      defaultPreRequest(worker, request);
      return app(request, serveInfo);
    };
  }
  return async (request, serveInfo) => {
    let response: Response;
    try {
      // As gunicorn's, inside the request's try: a pre_request that throws fails the request
      // (the app is not run; a 500 and its stack, as the app's own throw), post_request runs.
      if (user) await hooks.call("pre_request", worker, request);
      else if (debug) defaultPreRequest(worker, request);
      response = await app(request, serveInfo);
      // After an upgrade (Bun's server.upgrade()) what the app returns does not go out.
      if (!(response instanceof Response) && !request.headers.has("upgrade")) {
        response = answer(notAResponse(response), request, serveInfo);
      }
    } catch (error) {
      response = answer(error, request, serveInfo);
    }
    if (post) await hooks.run("post_request", worker, request, response);
    return response;
  };
}
