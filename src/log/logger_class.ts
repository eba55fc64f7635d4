// --logger-class PATH[:EXPORT]: the user's subclass of Logger, loaded in the
// master and in every worker. A method of it that throws falls back to
// Logger's own for that call, reported once, so logging never takes a worker down.

import { pathToFileURL } from "node:url";
import { AppserveError, ConfigError, firstLine } from "../errors.ts";
import { resolveModulePath } from "../app/load_app.ts";
import { describeUserError } from "../app/user_error.ts";
import type { Runtime } from "../runtime/types.ts";
import { Logger, type LoggerOptions } from "./logger.ts";

/** What a logger class is constructed with. */
export type LoggerClass = new (options: LoggerOptions) => Logger;

/**
 * The `appserve` module a --logger-class module imports: the running program's own exports
 * (mod.ts), so that its `Logger` is the very class checked here with `instanceof`. The entry
 * files pass them in; this folder sits below mod.ts and does not import it.
 */
export type AppserveExports = Readonly<Record<string, unknown>>;

export interface LoadLoggerClassOptions {
  /** Where a relative PATH starts. */
  cwd: string;
  runtime: Runtime;
  appserve: AppserveExports;
}

const GUARDED = [
  "critical",
  "error",
  "warning",
  "info",
  "debug",
  "exception",
  "log",
  "formatError",
  "writeError",
  "access",
  "formatAccess",
  "writeAccess",
  "workers",
  "reopen",
  "close",
] as const;

/** Imports PATH[:EXPORT] (default export, else the only Logger subclass exported). */
export async function loadLoggerClass(
  spec: string,
  { cwd, runtime, appserve }: LoadLoggerClassOptions,
): Promise<LoggerClass> {
  const colon = spec.lastIndexOf(":");
  const path = colon > 0 ? spec.slice(0, colon) : spec;
  const name = colon > 0 ? spec.slice(colon + 1) : "";
  let mod: Record<string, unknown>;
  try {
    const file = resolveModulePath(path, cwd);
    // User modules import { Logger } from "appserve": this program's own instance.
    runtime.provideModule("appserve", appserve);
    mod = await import(pathToFileURL(file).href);
  } catch (error) {
    const why = error instanceof AppserveError ? error.message : describeUserError(error).headline;
    throw new ConfigError(`Cannot load logger class "${spec}": ${why}`);
  }
  const candidates = name
    ? [mod[name]]
    : mod.default !== undefined
    ? [mod.default]
    : Object.values(mod).filter(isLoggerClass);
  const value = candidates[0];
  if (candidates.length !== 1 || !isLoggerClass(value)) {
    const what = name ? `"${name}" in ${path}` : `${path} (default export or one Logger subclass)`;
    throw new ConfigError(
      `Logger class ${what} does not extend appserve's Logger ` +
        `(import { Logger } from "appserve")`,
    );
  }
  // The class and its loggers come back from async functions: one with a `then` would be taken
  // for a promise, and start-up would wait for it forever.
  const thenOf = (target: object) => typeof (target as { then?: unknown }).then === "function";
  if (thenOf(value) || thenOf(value.prototype)) {
    throw new ConfigError(
      `Logger class ${value.name || path} has a then() method: appserve would wait on it as on ` +
        "a promise; rename it",
    );
  }
  return value;
}

function isLoggerClass(value: unknown): value is LoggerClass {
  return typeof value === "function" && value.prototype instanceof Logger;
}

/** Constructs the user's logger; its overridden methods fall back to Logger's when they throw. */
export function constructLogger(cls: LoggerClass, options: LoggerOptions): Logger {
  let logger: Logger;
  try {
    logger = new cls(options);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`Logger class ${cls.name} cannot be constructed: ${firstLine(error)}`);
  }
  guard(logger, cls.name);
  return logger;
}

function guard(logger: Logger, className: string): void {
  const base = Logger.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const target = logger as unknown as Record<string, (...args: unknown[]) => unknown>;
  const reported = new Set<string>();
  for (const name of GUARDED) {
    const own = target[name];
    if (own === base[name]) continue;
    const fallback = base[name];
    const report = (error: unknown) => {
      if (reported.has(name)) return;
      reported.add(name);
      base.log.call(
        logger,
        "error",
        `Logger class ${className}.${name} threw (${firstLine(error)}); ` +
          "appserve's Logger takes over each call of it that throws (reported once)",
      );
    };
    target[name] = function (this: Logger, ...args: unknown[]) {
      let result: unknown;
      try {
        result = own.apply(this, args);
      } catch (error) {
        report(error);
        return fallback.apply(this, args);
      }
      if (result instanceof Promise) {
        return result.catch((error) => {
          report(error);
          return fallback.apply(this, args);
        });
      }
      return result;
    };
  }
}
