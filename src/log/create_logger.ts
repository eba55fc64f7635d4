// Builds the process's Logger from the configuration: the --logger-class (or
// Logger itself), its files and levels for this role, and the statsd client.

import { basename, extname } from "node:path";
import process from "node:process";
import { parseAppSpec } from "../app/app_spec.ts";
import { ConfigError, firstLine } from "../errors.ts";
import { parseSyslogAddr, SYSLOG_FACILITIES } from "../config/syslog_addr.ts";
import type { Config } from "../config/settings.ts";
import type { Runtime } from "../runtime/types.ts";
import { Logger, type LoggerOptions } from "./logger.ts";
import { type AppserveExports, constructLogger, loadLoggerClass } from "./logger_class.ts";
import { accessRoute, errorRoute } from "./logging_table.ts";
import { checkWritable } from "./sinks.ts";
import { type Metrics, MetricsSwitch, statsdClient } from "./statsd.ts";
import { OtelLogs } from "./otel_logs.ts";
import { Syslog } from "./syslog.ts";

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
    format: config.log_format,
  };
}

export interface CreateLoggerOptions {
  role: Role;
  runtime: Runtime;
  /** What `import ... from "appserve"` gives a --logger-class module (see AppserveExports). */
  appserve: AppserveExports;
  /** Where each setting came from ("--log-file", "appserve.toml:3:11"), for the master's errors. */
  origins?: Readonly<Record<string, string>>;
}

/**
 * The `PREFIX` of `gunicorn.PREFIX.error`: syslog_prefix, proc_name, else the app module's
 * name and export (gunicorn's default_proc_name `myapp:app` gives `myapp.app`).
 */
export function syslogPrefix(config: Config): string {
  const name = config.syslog_prefix || config.proc_name || appName(config.app);
  return name.replaceAll(":", ".");
}

function appName(app: string): string {
  try {
    const spec = parseAppSpec(app);
    const file = basename(spec.path);
    return [file.slice(0, file.length - extname(file).length), ...spec.names].join(".");
  } catch {
    return "appserve";
  }
}

/** The master loggers' statsd targets, which a HUP switches (reloadStatsd). */
const switches = new WeakMap<Logger, MetricsSwitch>();

/** What the statsd client is made of; "" when statsd is off. */
function statsdKey(config: Config): string {
  const { statsd_host: host, statsd_prefix: prefix, dogstatsd_tags: tags } = config;
  return host ? JSON.stringify([host, prefix, tags]) : "";
}

/**
 * Points the master's statsd metrics at `config`'s statsd_host, statsd_prefix and dogstatsd_tags
 * (none when unset), as gunicorn's reload sets its statsd logger up again; the old client sends
 * its last batch as it closes. Nothing changes when they are the same, or for a logger
 * createLogger() did not make as the master's. A client that cannot be made (which fails the
 * start) is a WARNING here: the old target stays, and the master serves on.
 */
export async function reloadStatsd(log: Logger, config: Config): Promise<void> {
  const switched = switches.get(log);
  if (!switched) return;
  try {
    await switched.use(statsdKey(config), () => openStatsd(config, (m) => log.warning(m)));
  } catch (error) {
    log.warning(
      `statsd: cannot send to ${config.statsd_host} (${
        firstLine(error)
      }); the previous target is kept`,
    );
  }
}

function openStatsd(config: Config, warn: (message: string) => void): Promise<Metrics> {
  return statsdClient(config.statsd_host, config.statsd_prefix, config.dogstatsd_tags, warn);
}

/** This process's Logger: the --logger-class (or Logger itself) with its files and statsd. */
export async function createLogger(
  config: Config,
  { role, runtime, appserve, origins }: CreateLoggerOptions,
): Promise<Logger> {
  const options = loggerOptions(config, role);
  if (role === "master") {
    // The workers' files too: a worker that cannot log would fail to boot over and over.
    const worker = errorRoute(config, "worker").file;
    if (worker && worker !== "-") {
      // The flat errorlog is the master's file as much as the workers': "worker" would mislead,
      // and the setting is named as given (`--log-file: Cannot open error log ...`).
      const own = config.logging.worker?.file !== undefined;
      const origin = own ? undefined : origins?.errorlog;
      try {
        checkWritable(worker, own ? "worker error log" : "error log");
      } catch (error) {
        if (!(error instanceof ConfigError) || !origin) throw error;
        throw new ConfigError(`${origin}: ${error.message}`);
      }
    }
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
  const pending: string[] = [];
  const target = config.statsd_host
    ? await openStatsd(config, (message) => holder.logger?.warning(message))
    : undefined;
  // The master's can be pointed elsewhere by a HUP (reloadStatsd), even when it starts without.
  const switched = role === "master" ? new MetricsSwitch(target, statsdKey(config)) : undefined;
  options.metrics = switched ?? target;
  if (config.syslog) {
    options.syslog = await Syslog.open(parseSyslogAddr(config.syslog_addr), {
      facility: SYSLOG_FACILITIES[config.syslog_facility],
      prefix: syslogPrefix(config),
      libc: runtime.libc(),
      onProblem: (message, level) =>
        holder.logger ? holder.logger.log(level, message) : pending.push(message),
    });
    options.syslogAccess = !config.disable_redirect_access_to_syslog;
  }
  if (config.log_otel) {
    try {
      options.otelLogs = new OtelLogs({
        env: process.env,
        onProblem: (message, level) =>
          holder.logger ? holder.logger.log(level, message) : pending.push(message),
      });
    } catch (error) {
      throw new ConfigError(
        `--log-otel: Cannot send OpenTelemetry logs: ${(error as Error).message}`,
      );
    }
  }
  holder.logger = cls ? constructLogger(cls, options) : new Logger(options);
  if (switched) switches.set(holder.logger, switched);
  // A receiver found down at start is said once the logger exists.
  for (const message of pending) holder.logger.warning(message);
  return holder.logger;
}
