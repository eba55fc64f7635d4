// The error log of master and workers, in gunicorn's line format so existing
// greps and log shippers keep working:
//   [2026-11-22 10:00:00 +0000] [4242] [INFO] Starting appserve 0.1.0

import process from "node:process";
import { LogFile } from "./log_file.ts";

export const LOG_LEVELS = ["debug", "info", "warning", "error", "critical"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** `[%Y-%m-%d %H:%M:%S %z]` in local time. */
export function errorLogTime(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const zone = `${sign}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  return `[${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone}]`;
}

export interface LoggerOptions {
  /** Lowest level written. @default "info" */
  level?: LogLevel;
  /** Error log file (appended to); "-" or "" is stderr. @default "-" */
  file?: string;
  /** Where lines go instead of the file or stderr (tests). */
  write?: (line: string) => void;
}

/**
 * The logger through which master and workers write the error log.
 *
 * @example
 * ```ts
 * const log = new Logger({ level: "debug" });
 * log.info("Booting worker with pid: 42");
 * ```
 */
export class Logger {
  #threshold: number;
  #write: (line: string) => void;
  #file: LogFile;

  constructor(options: LoggerOptions = {}) {
    this.#threshold = LOG_LEVELS.indexOf(options.level ?? "info");
    this.#file = new LogFile(options.file ?? "", "error log", "stderr");
    this.#write = options.write ?? ((line) => this.#file.write(line));
  }

  /** Reopens the log file (SIGUSR1, after logrotate moved it). */
  reopen(): void {
    this.#file.reopen();
  }

  close(): void {
    this.#file.close();
  }

  critical(message: string): void {
    this.log("critical", message);
  }
  error(message: string): void {
    this.log("error", message);
  }
  warning(message: string): void {
    this.log("warning", message);
  }
  info(message: string): void {
    this.log("info", message);
  }
  debug(message: string): void {
    this.log("debug", message);
  }

  /** An ERROR line followed by the error's stack. */
  exception(message: string, error: unknown): void {
    const detail = error instanceof Error ? error.stack ?? String(error) : String(error);
    this.log("error", `${message}\n${detail}`);
  }

  /** Formats and writes one line when `level` passes the threshold. */
  log(level: LogLevel, message: string): void {
    if (LOG_LEVELS.indexOf(level) < this.#threshold) return;
    this.#write(
      `${errorLogTime(new Date())} [${process.pid}] [${level.toUpperCase()}] ${message}\n`,
    );
  }
}
