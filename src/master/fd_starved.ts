// Workers whose listener stopped for want of fds (Deno.serve after EMFILE, --reuse-port) are
// replaced at once: the stopped one accepts nothing, and a replacement held back would leave the
// port with a listener fewer (none with one worker) after the shortage ends. Replacements that
// keep running out too are said, once a minute at most, with what would end it.

/** Stops this close together make a run. */
const RUN_MS = 10_000;
/** A run is said at most this often. */
const SAY_EVERY_MS = 60_000;

export class FdStarved {
  #last = -Infinity;
  #run = 0;
  #said = -Infinity;

  /**
   * A worker stopped accepting for fds at monotonic `now`, under `limit` (RLIMIT_NOFILE): the
   * WARNING to log, when it continues a run not said within the last minute.
   */
  stopped(now: number, limit: number): string | undefined {
    this.#run = now - this.#last < RUN_MS ? this.#run + 1 : 1;
    this.#last = now;
    if (this.#run < 2 || now - this.#said < SAY_EVERY_MS) return undefined;
    this.#said = now;
    return `Workers keep running out of file descriptors (ulimit -n ${limit}): ${this.#run} in a ` +
      `row stopped accepting, each within ${RUN_MS / 1000} s of the one before, and were ` +
      "replaced at once; raise the limit, or serve without --reuse-port (the shared socket's " +
      "workers keep accepting through a shortage)";
  }
}
