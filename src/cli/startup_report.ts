// Where a start-up failure is told: stderr (once), the error log file when one
// is set, and the `-D` command waiting on the daemon's status pipe. The daemon
// also says "ready" there once its first workers serve.

import { appendFileSync } from "node:fs";
import process from "node:process";
import type { Config } from "../config/settings.ts";
import { errorRoute } from "../log/logging_table.ts";
import { errorLogTime, type Logger } from "../log/logger.ts";
import type { Libc } from "../runtime/types.ts";
import { DAEMON_ENV } from "./daemon.ts";
import { F_SETFD, FD_CLOEXEC } from "../net/socket_constants.ts";

const STATUS_FD = 3;

export interface FailOptions {
  /** Lines under the message (a stack) for stderr and the status pipe. */
  detail?: string;
  /** The error log has it already (a worker's error and the halt's Reason). */
  logged?: boolean;
}

export class StartupReport {
  #libc: Libc | undefined;
  #statusFd: number | undefined;
  #logFile = "";
  #log: Logger | undefined;
  #ready = false;

  /**
   * In a daemon started by -D, takes over its status pipe, kept out of child processes. The
   * fd stays open for good: Deno's node:fs keeps its own handle on an inherited fd 3, and a
   * file opened at a freed fd 3 had its writes (the pidfile's) go down the pipe instead.
   */
  constructor(libc: Libc | undefined, env: Record<string, string | undefined>) {
    if (!libc || !env[DAEMON_ENV]) return;
    this.#libc = libc;
    if (libc.fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC) === 0) this.#statusFd = STATUS_FD;
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** The error log of the master, from the resolved configuration ("" for stderr). */
  useConfig(config: Config): void {
    const file = errorRoute(config, "master").file;
    this.#logFile = file === "-" ? "" : file;
  }

  useLogger(log: Logger): void {
    this.#log = log;
  }

  /** The master serves and its first workers have booted. */
  succeeded(): void {
    this.#ready = true;
    this.#tell("ready\n");
  }

  /** Start-up failed: `message` is one line (without "Error: "). */
  failed(message: string, options: FailOptions = {}): void {
    const text = `Error: ${message}${options.detail ? `\n${options.detail}` : ""}`;
    if (!(options.logged && !this.#logFile)) process.stderr.write(`${text}\n`);
    if (!options.logged && this.#logFile) this.#toLogFile(message);
    this.#tell(`error\n${text}`);
  }

  #toLogFile(message: string): void {
    if (this.#log) return this.#log.error(message);
    try {
      // No logger yet (its own file may be what failed): gunicorn's line format, by hand.
      appendFileSync(
        this.#logFile,
        `${errorLogTime(new Date())} [${process.pid}] [ERROR] ${message}\n`,
      );
    } catch {
      // Nowhere to write it but stderr, which has it.
    }
  }

  #tell(text: string): void {
    if (this.#statusFd === undefined || !this.#libc) return;
    this.#libc.write(this.#statusFd, new TextEncoder().encode(text));
    // Said once; the waiting command stops reading after it.
    this.#statusFd = undefined;
  }
}
