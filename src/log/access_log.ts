// The access log of a worker: one line per finished request, to a file
// (appended, reopened on USR1) or stdout for "-".

import { closeSync, openSync, writeSync } from "node:fs";
import process from "node:process";
import { ConfigError } from "../errors.ts";
import { type AccessEntry, compileAccessFormat } from "./access_format.ts";

export class AccessLog {
  readonly #render: (entry: AccessEntry) => string;
  readonly #path: string;
  #fd = -1;

  /** `path` "-" is stdout. */
  constructor(path: string, format: string) {
    this.#render = compileAccessFormat(format);
    this.#path = path === "-" ? "" : path;
    if (this.#path) this.#open();
  }

  #open(): void {
    try {
      this.#fd = openSync(this.#path, "a");
    } catch (error) {
      throw new ConfigError(`Cannot open access log "${this.#path}": ${(error as Error).message}`);
    }
  }

  write(entry: AccessEntry): void {
    const line = this.#render(entry) + "\n";
    if (this.#fd >= 0) writeSync(this.#fd, line);
    else process.stdout.write(line);
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  /** Reopens the file (SIGUSR1, after logrotate moved it). */
  reopen(): void {
    if (!this.#path) return;
    const old = this.#fd;
    this.#open();
    closeSync(old);
  }
}
