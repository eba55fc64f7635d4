// --logger-class PATH[:EXPORT]: the user's subclass of Logger, loaded in the
// master and in every worker. A method of it that throws falls back to
// Logger's own for that call, reported once, so logging never takes a worker down.

import { pathToFileURL } from "node:url";
import { AppserveError, ConfigError, firstLine } from "../errors.ts";
import { resolveModulePath } from "../app/load_app.ts";
import { describeUserError } from "../app/user_error.ts";
import type { Runtime } from "../runtime/types.ts";
import { VERSION } from "../version.ts";
import { Logger, type LoggerOptions } from "./logger.ts";

/** What a logger class is constructed with. */
export type LoggerClass = new (options: LoggerOptions) => Logger;

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

/**
 * What `import ... from "appserve"` gives user modules inside a running appserve process: this
 * program's own values, so a logger class extends the very Logger this process checks against
 * (mod.ts's types describe them; `main()` cannot run inside a worker).
 */
export function appserveExports(): Record<string, unknown> {
  return {
    Logger,
    VERSION,
    main: () => Promise.reject(new Error("appserve's main() cannot run inside a worker")),
  };
}

/** Imports PATH[:EXPORT] (default export, else the only Logger subclass exported). */
export async function loadLoggerClass(
  spec: string,
  cwd: string,
  runtime: Runtime,
): Promise<LoggerClass> {
  const colon = spec.lastIndexOf(":");
  const path = colon > 0 ? spec.slice(0, colon) : spec;
  const name = colon > 0 ? spec.slice(colon + 1) : "";
  let mod: Record<string, unknown>;
  try {
    const file = resolveModulePath(path, cwd);
    // User modules import { Logger } from "appserve": this program's own instance.
    runtime.provideModule("appserve", appserveExports());
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
