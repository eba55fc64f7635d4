// The access log of a worker: one line per finished request, to a file
// (appended, reopened on USR1) or stdout for "-".

import { closeSync, openSync, writeSync } from "node:fs";
import process from "node:process";
import { setImmediate } from "node:timers";
import { ConfigError } from "../errors.ts";
import { type AccessEntry, compileAccessFormat } from "./access_format.ts";

export class AccessLog {
  readonly #render: (entry: AccessEntry) => string;
  readonly #path: string;
  #fd = -1;
  #pending: string[] = [];

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

  // Lines of one event-loop turn go out in one write: a write per request
  // cost a quarter to a half of hello-world throughput.
  write(entry: AccessEntry): void {
    this.#pending.push(this.#render(entry));
    if (this.#pending.length === 1) setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    if (!this.#pending.length) return;
    const text = this.#pending.join("\n") + "\n";
    this.#pending.length = 0;
    if (this.#fd >= 0) writeSync(this.#fd, text);
    else process.stdout.write(text);
  };

  close(): void {
    this.#flush();
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  /** Reopens the file (SIGUSR1, after logrotate moved it). */
  reopen(): void {
    this.#flush();
    if (!this.#path) return;
    const old = this.#fd;
    this.#open();
    closeSync(old);
  }
}
