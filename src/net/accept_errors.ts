// What a listening node:net server reports on 'error' while it accepts (EMFILE, ENFILE,
// ECONNABORTED...): said at most once per interval, with how many came meanwhile, and never
// fatal. The server goes on accepting; once fds free up, the AcceptGate's tick restarts an accept
// loop the runtime stopped.

/** Options of `AcceptErrors`. */
export interface AcceptErrorsOptions {
  /** Least time between two reports. @default 10000 */
  everyMs?: number;
  /** The clock, in ms. @default Date.now */
  now?: () => number;
}

/** Turns a listener's 'error' events into rate-limited reports. */
export class AcceptErrors {
  readonly #report: (message: string) => void;
  readonly #everyMs: number;
  readonly #now: () => number;
  #last = -Infinity;
  #unsaid = 0;

  constructor(report: (message: string) => void, options: AcceptErrorsOptions = {}) {
    this.#report = report;
    this.#everyMs = options.everyMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** The listener's 'error' handler (bound once). */
  readonly handle = (error: Error): void => {
    const now = this.#now();
    if (now - this.#last < this.#everyMs) {
      this.#unsaid++;
      return;
    }
    const code = (error as { code?: unknown }).code;
    const more = this.#unsaid > 0 ? ` (and ${this.#unsaid} more since the last report)` : "";
    this.#last = now;
    this.#unsaid = 0;
    this.#report(
      `Accept failed: ${typeof code === "string" ? `${code}: ` : ""}${error.message}${more}; ` +
        "still accepting",
    );
  };
}
