// One appended log file shared by the error and access logs: opened with
// O_APPEND (lines from master and workers stay whole), reopened on SIGUSR1
// after logrotate moved it. "-" or "" means the given standard stream.

import { closeSync, openSync, writeSync } from "node:fs";
import process from "node:process";
import { ConfigError } from "../errors.ts";

export class LogFile {
  readonly #path: string;
  readonly #what: string;
  readonly #stream: "stdout" | "stderr";
  #fd = -1;

  /** `what` names the log in errors ("error log", "access log"). */
  constructor(path: string, what: string, stream: "stdout" | "stderr") {
    this.#path = path === "-" ? "" : path;
    this.#what = what;
    this.#stream = stream;
    if (this.#path) this.#open();
  }

  #open(): void {
    try {
      this.#fd = openSync(this.#path, "a");
    } catch (error) {
      throw new ConfigError(
        `Cannot open ${this.#what} "${this.#path}": ${(error as Error).message}`,
      );
    }
  }

  write(text: string): void {
    if (this.#fd >= 0) writeSync(this.#fd, text);
    else process[this.#stream].write(text);
  }

  reopen(): void {
    if (!this.#path) return;
    const old = this.#fd;
    this.#open();
    closeSync(old);
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }
}
