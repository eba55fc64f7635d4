// Builds the process's Logger from the configuration: the --logger-class (or
// Logger itself), its files and levels for this role, and the statsd client.

import process from "node:process";
import type { Config } from "../config/settings.ts";
import type { Runtime } from "../runtime/types.ts";
import { Logger, type LoggerOptions } from "./logger.ts";
import { constructLogger, loadLoggerClass } from "./logger_class.ts";
import { checkWritable } from "./sinks.ts";
import { statsdClient } from "./statsd.ts";

/** The master writes no access lines; it only checks the file can be opened. */
export type Role = "master" | "worker";

export function loggerOptions(config: Config, role: Role): LoggerOptions {
  return {
    level: config.loglevel,
    file: config.errorlog,
    accessLog: role === "worker" ? config.accesslog : "",
    accessFormat: config.access_log_format,
  };
}

export async function createLogger(config: Config, role: Role, runtime: Runtime): Promise<Logger> {
  const options = loggerOptions(config, role);
  if (role === "master" && config.accesslog && config.accesslog !== "-") {
    checkWritable(config.accesslog, "access log");
  }
  const cls = config.logger_class
    ? await loadLoggerClass(config.logger_class, process.cwd(), runtime)
    : undefined;
  // Send failures are reported through the logger once it exists.
  const holder: { logger?: Logger } = {};
  if (config.statsd_host) {
    options.metrics = statsdClient(
      config.statsd_host,
      config.statsd_prefix,
      (message) => holder.logger?.warning(message),
    );
  }
  holder.logger = cls ? constructLogger(cls, options) : new Logger(options);
  return holder.logger;
}
