// The access log of a worker: one line per finished request, to a file
// (appended, reopened on USR1) or stdout for "-".

import { setImmediate } from "node:timers";
import { type AccessEntry, compileAccessFormat } from "./access_format.ts";
import { LogFile } from "./log_file.ts";

export class AccessLog {
  readonly #render: (entry: AccessEntry) => string;
  readonly #file: LogFile;
  #pending: string[] = [];

  /** `path` "-" is stdout. */
  constructor(path: string, format: string) {
    this.#render = compileAccessFormat(format);
    this.#file = new LogFile(path, "access log", "stdout");
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
    this.#file.write(text);
  };

  close(): void {
    this.#flush();
    this.#file.close();
  }

  /** Reopens the file (SIGUSR1, after logrotate moved it). */
  reopen(): void {
    this.#flush();
    this.#file.reopen();
  }
}
