// gunicorn's server hooks as a typed table with one runner. A hooks module
// (--hooks PATH) exports any of them; master hooks run in the master, worker
// hooks in the worker. A throwing hook is logged and contained, except
// on_starting, which aborts start-up.

import type { FetchHandler } from "./http/types.ts";
import process from "node:process";
import { pathToFileURL } from "node:url";
import type { Config } from "./config/settings.ts";
import { AppserveError, ConfigError, firstLine } from "./errors.ts";
import { resolveModulePath } from "./app/load_app.ts";
import { describeUserError } from "./app/user_error.ts";
import type { Logger } from "./log/logger.ts";

/** What master hooks receive as `server` (gunicorn's Arbiter). */
export interface ServerInfo {
  pid: number;
  config: Config;
  log: Logger;
  /** The target number of workers. */
  numWorkers: number;
}

/** What hooks receive as `worker`. */
export interface WorkerInfo {
  pid: number;
  /** Spawn counter: 1 for the first worker, growing with every spawn. */
  age: number;
}

/** Every hook: the process it runs in and its arguments, as in gunicorn. */
export interface Hooks {
  on_starting(server: ServerInfo): unknown;
  on_reload(server: ServerInfo): unknown;
  when_ready(server: ServerInfo): unknown;
  pre_fork(server: ServerInfo, worker: WorkerInfo): unknown;
  post_fork(server: ServerInfo, worker: WorkerInfo): unknown;
  post_worker_init(worker: WorkerInfo): unknown;
  worker_int(worker: WorkerInfo): unknown;
  worker_abort(worker: WorkerInfo): unknown;
  pre_exec(server: ServerInfo): unknown;
  pre_request(worker: WorkerInfo, request: Request): unknown;
  post_request(worker: WorkerInfo, request: Request, response: Response): unknown;
  child_exit(server: ServerInfo, worker: WorkerInfo): unknown;
  worker_exit(server: ServerInfo, worker: WorkerInfo): unknown;
  nworkers_changed(server: ServerInfo, newValue: number, oldValue: number): unknown;
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

  /** Loads PATH; a missing module or a non-function hook is a ConfigError. */
  static async load(path: string, log: Logger): Promise<HookRunner> {
    if (!path) return new HookRunner({}, log);
    let mod: Record<string, unknown>;
    try {
      // Found first, as the app and the logger class are: the runtime's own "not found" names
      // the importer, which inside the binary is the binary itself.
      mod = await import(pathToFileURL(resolveModulePath(path, process.cwd())).href);
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

  /** Runs a hook; a throw is logged with the hook's name (on_starting's aborts start-up). */
  async run<N extends HookName>(name: N, ...args: Parameters<Hooks[N]>): Promise<void> {
    const hook = this.hooks[name] as ((...a: unknown[]) => unknown) | undefined;
    if (!hook) return;
    try {
      await hook(...args);
    } catch (error) {
      if (name === "on_starting") {
        throw new ConfigError(`on_starting hook failed: ${firstLine(error)}`);
      }
      this.log.exception(`Exception in ${name} hook`, error);
    }
  }
}

/** The app wrapped in pre_request/post_request, when the hooks module has them. */
export function withRequestHooks(
  app: FetchHandler,
  hooks: HookRunner,
  worker: WorkerInfo,
): FetchHandler {
  if (!hooks.has("pre_request") && !hooks.has("post_request")) return app;
  return async (request, serveInfo) => {
    await hooks.run("pre_request", worker, request);
    const response = await app(request, serveInfo);
    await hooks.run("post_request", worker, request, response);
    return response;
  };
}
