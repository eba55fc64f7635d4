// Which file and level each role logs to: a [logging] table entry wins over
// the flat settings (errorlog, loglevel, accesslog, access_log_format). The
// table itself is parsed with the settings, in src/config/logging_table.ts.

import type { ErrorRoute, LoggingTable, LogLevel } from "../config/logging_table.ts";

interface FlatLogging {
  errorlog: string;
  loglevel: LogLevel;
  accesslog: string;
  access_log_format: string;
  logging: LoggingTable;
}

/** The error log file and level of master or workers. */
export function errorRoute(config: FlatLogging, role: "master" | "worker"): Required<ErrorRoute> {
  const route = config.logging[role] ?? {};
  return { file: route.file ?? config.errorlog, level: route.level ?? config.loglevel };
}

/** The access log file ("" = off) and format. */
export function accessRoute(config: FlatLogging): { file: string; format: string } {
  const route = config.logging.access ?? {};
  return { file: route.file ?? config.accesslog, format: route.format ?? config.access_log_format };
}
