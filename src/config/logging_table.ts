// The values of the logging settings: the level names, the default access-log
// format and the [logging] TOML table's type. Here rather than in src/log/ so
// the settings table can use them without importing the logger it configures;
// src/log/logging_table.ts reads a role's route out of the parsed table.
//
//   [logging]
//   master = { file = "master.log", level = "info" }
//   worker = { file = "worker.log", level = "debug" }
//   access = { file = "access.log", format = '%(h)s "%(r)s" %(s)s' }

import { isAbsolute, resolve } from "node:path";
import { ValueError, type ValueType } from "./validators.ts";

/** The error log's levels, lowest first (loglevel and [logging] accept them in any case). */
export const LOG_LEVELS = ["debug", "info", "warning", "error", "critical"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

/** gunicorn's default access_log_format. */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

/** Where one role's error log goes. */
export interface ErrorRoute {
  file?: string;
  level?: LogLevel;
}

export interface LoggingTable {
  master?: ErrorRoute;
  worker?: ErrorRoute;
  access?: { file?: string; format?: string };
}

const KEYS: Record<keyof LoggingTable, readonly string[]> = {
  master: ["file", "level"],
  worker: ["file", "level"],
  access: ["file", "format"],
};

const EXPECTED = "a table with master, worker and access tables " +
  "(master/worker: file, level; access: file, format)";

function problem(message: string): never {
  throw new ValueError(message);
}

export const loggingTable: ValueType<LoggingTable> & {
  withBase(value: LoggingTable, dir: string): LoggingTable;
} = {
  cli: "string",
  expected: EXPECTED,
  parse(raw) {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      problem(`expected ${EXPECTED}`);
    }
    const table: LoggingTable = {};
    for (const [role, value] of Object.entries(raw as Record<string, unknown>)) {
      const keys = KEYS[role as keyof LoggingTable];
      if (!keys) problem(`unknown key "${role}" (expected master, worker or access)`);
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        problem(`"${role}" must be a table of ${keys.join(", ")}`);
      }
      const entry: Record<string, string> = {};
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        if (!keys.includes(key)) {
          problem(`unknown key "${role}.${key}" (expected ${keys.join(" or ")})`);
        }
        if (typeof v !== "string") problem(`"${role}.${key}" must be a string`);
        // Any case, as the loglevel setting (gunicorn's `WARNING`).
        const value = key === "level" ? v.toLowerCase() : v;
        if (key === "level" && !(LOG_LEVELS as readonly string[]).includes(value)) {
          problem(`"${role}.level" must be one of ${LOG_LEVELS.join(", ")}, got "${v}"`);
        }
        entry[key] = value;
      }
      (table as Record<string, unknown>)[role] = entry;
    }
    return table;
  },
  // Files named in a config file are relative to its folder, like every path setting.
  withBase(value, dir) {
    const out: LoggingTable = structuredClone(value);
    for (const entry of [out.master, out.worker, out.access]) {
      if (entry?.file && entry.file !== "-" && !isAbsolute(entry.file)) {
        entry.file = resolve(dir, entry.file);
      }
    }
    return out;
  },
};
