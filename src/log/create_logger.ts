// Builds the process's Logger from the configuration: the --logger-class (or
// Logger itself), its files and levels for this role, and the statsd client.

import process from "node:process";
import type { Config } from "../config/settings.ts";
import type { Runtime } from "../runtime/types.ts";
import { Logger, type LoggerOptions } from "./logger.ts";
import { type AppserveExports, constructLogger, loadLoggerClass } from "./logger_class.ts";
import { accessRoute, errorRoute } from "./logging_table.ts";
import { checkWritable } from "./sinks.ts";
import { statsdClient } from "./statsd.ts";

/** The master writes no access lines; it only checks the file can be opened. */
export type Role = "master" | "worker";

/** Files and levels of this role: the [logging] table over the flat settings. */
export function loggerOptions(config: Config, role: Role): LoggerOptions {
  const error = errorRoute(config, role);
  const access = accessRoute(config);
  return {
    level: error.level,
    file: error.file,
    accessLog: role === "worker" ? access.file : "",
    accessFormat: access.format,
  };
}

export interface CreateLoggerOptions {
  role: Role;
  runtime: Runtime;
  /** What `import ... from "appserve"` gives a --logger-class module (see AppserveExports). */
  appserve: AppserveExports;
}

/** This process's Logger: the --logger-class (or Logger itself) with its files and statsd. */
export async function createLogger(
  config: Config,
  { role, runtime, appserve }: CreateLoggerOptions,
): Promise<Logger> {
  const options = loggerOptions(config, role);
  if (role === "master") {
    // The workers' files too: a worker that cannot log would fail to boot over and over.
    const worker = errorRoute(config, "worker").file;
    if (worker && worker !== "-") checkWritable(worker, "worker error log");
    const access = accessRoute(config).file;
    if (access && access !== "-") checkWritable(access, "access log");
  }
  // The app and hooks modules may import "appserve" too, logger class or not.
  runtime.provideModule("appserve", appserve);
  const cls = config.logger_class
    ? await loadLoggerClass(config.logger_class, { cwd: process.cwd(), runtime, appserve })
    : undefined;
  // Send failures are reported through the logger once it exists.
  const holder: { logger?: Logger } = {};
  if (config.statsd_host) {
    options.metrics = statsdClient(
      config.statsd_host,
      config.statsd_prefix,
      config.dogstatsd_tags,
      (message) => holder.logger?.warning(message),
    );
  }
  holder.logger = cls ? constructLogger(cls, options) : new Logger(options);
  return holder.logger;
}
