// A replacement worker that cannot load the app while other workers still serve (a recycle, a
// crashed worker's replacement, after the app file was edited into a broken one): the service
// keeps its serving workers and the master tries again later, waiting longer after each failure
// in a row, so a broken deploy costs a boot now and then, not a loop of failing boots. A try
// starts one worker, however many are missing: each failure is one try, one wait longer.

/** The wait after the first failure; doubled after each next one, up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

export class LoadRetry {
  #failures = 0;
  #until = 0;

  /** A replacement could not load the app at monotonic `now`: the wait before the next, in ms. */
  failed(now: number): number {
    const wait = Math.min(FIRST_RETRY_MS * 2 ** this.#failures, MAX_RETRY_MS);
    this.#failures++;
    this.#until = now + wait;
    return wait;
  }

  /** Since a replacement could not load the app, none has booted: each try starts one worker. */
  get retrying(): boolean {
    return this.#failures > 0;
  }

  /** Whether new workers wait still (at monotonic `now`). */
  waiting(now: number): boolean {
    return now < this.#until;
  }

  /** A worker booted, or a HUP brings a new app: the next failure waits the first wait again. */
  reset(): void {
    this.#failures = 0;
    this.#until = 0;
  }
}
