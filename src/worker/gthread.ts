// The gthread worker class: a pool of Web Worker threads inside one worker
// process (thread_pool.ts), each with its own instance of the app and its own
// HTTP layer (workers/thread_entry.ts). Each thread accepts on the shared
// listening sockets itself, hands a connection it accepted to a sibling with
// fewer (as an fd), and serves its own connections' requests one at a time (as
// a gunicorn thread does). Neither a request nor a connection costs the
// process anything, so N threads serve about as fast as N worker processes,
// and the process itself never runs app code: its heartbeat flows while the
// threads are busy.

import process from "node:process";
import type { Config } from "../config/settings.ts";
import { type KilledRequests, logQuickStopUnparsed } from "../ipc/quick_stop_report.ts";
import { ThreadPool } from "./thread_pool.ts";
import type { Gate, WorkerClass, WorkerContext } from "./worker_class.ts";

/**
 * How long a stop without a drain waits for the threads' statsd batches: under the master's 2 s
 * between a quick stop's SIGQUIT and its SIGKILL, with the worker_int hook and the rest.
 */
const THREAD_FLUSH_MS = 500;
/** How long a quick stop waits for the threads to stop accepting, before its worker_int hook. */
const THREAD_STOP_MS = 250;

export class ThreadWorker implements WorkerClass {
  static connections(config: Config): number {
    return config.worker_connections;
  }

  readonly #context: WorkerContext;
  #pool: ThreadPool | undefined;
  #serving = false;

  constructor(context: WorkerContext) {
    this.#context = context;
  }

  /** Starts the threads; each imports the app (and its request hooks) itself. */
  async boot(): Promise<void> {
    const { runtime, config, log, boot, requestLimit } = this.#context;
    this.#pool = await ThreadPool.start({
      runtime,
      config,
      age: boot.age,
      tls: this.#context.tls,
      limit: requestLimit,
      log,
      counters: this.#context.counters,
      // The worker's table is kept (no bench switch): its threads write their requests there.
      inflightTable: this.#context.inflight?.table,
      appWarning: (message) => this.#context.appWarning(message),
      onRetire: () => this.#context.retire(),
      // Answers already given (the 500, the 503s) still go out before the process ends.
      onLost: () => this.#context.lost(),
    });
  }

  async serve(gate: Gate): Promise<void> {
    if (!this.#pool) throw new Error("serve() before boot()");
    // Before, not after: a thread accepts as soon as it listens, while a sibling may still open
    // its listeners; a drain meanwhile must let that thread finish its requests.
    this.#serving = true;
    await this.#pool.serve(this.#context.boot.listeners, gate);
  }

  /** Sums the threads' counters and answers for and replaces threads that hang. */
  beat(): void {
    this.#pool?.checkLiveness();
  }

  reopen(): void {
    this.#pool?.reopen();
  }

  async stopAccepting(): Promise<void> {
    await this.#pool?.stopAccepting(THREAD_STOP_MS);
  }

  async drain(graceMs: number): Promise<void> {
    if (this.#serving) await this.#pool?.stop(graceMs);
  }

  async stop(quick = false): Promise<void> {
    const unparsed = await this.#pool?.flush(THREAD_FLUSH_MS, quick);
    this.#pool?.close();
    // One line for the worker, as async and sync workers say it.
    if (quick && unparsed) {
      logQuickStopUnparsed(this.#context.log, `worker (pid:${process.pid})`, unparsed);
    }
  }

  inflight(): KilledRequests[] {
    return this.#pool?.inflight() ?? [];
  }
}
