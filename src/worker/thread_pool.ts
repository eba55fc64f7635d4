// gthread's pool of Web Worker threads inside one worker process: starts
// them, hands each accepted connection to the one with the fewest, and
// watches them. The process's event loop never runs app code, so its
// heartbeat keeps flowing while threads are busy; it watches each thread
// through shared memory (thread_slots.ts). A thread that holds a request past
// `timeout` or stops turning its event loop loses its unanswered requests to
// the process, which answers them itself (504 for the one that hung it, 503
// for those waiting behind it), and is replaced. Where the runtime cannot stop
// a busy thread (Deno), the whole worker process retires instead. A thread
// that crashes answers its own requests with a 500 on its way out
// (workers/thread_entry.ts).

import type net from "node:net";
import process from "node:process";
import type { Config } from "../config/settings.ts";
import { AppLoadError } from "../errors.ts";
import { PROTOCOL_VERSION, type ToPool } from "../ipc/messages.ts";
import type { Logger } from "../log/logger.ts";
import { AcceptGate } from "../net/accept_gate.ts";
import type { Admission } from "../net/admission.ts";
import type { Runtime } from "../runtime/types.ts";
import { crashLine, ThreadHandle } from "./thread_handle.ts";
import { answerClaimed, newSlots } from "./thread_slots.ts";
import { InflightTable } from "../ipc/inflight.ts";
import { addCounters, METRIC_COUNTERS } from "../ipc/request_metrics.ts";
import { logInflightAccess, timeoutLines } from "../ipc/inflight_report.ts";
import type { Gate } from "./worker_class.ts";

export interface PoolOptions {
  runtime: Runtime;
  config: Config;
  /** The worker's age (hooks' `worker.age`). */
  age: number;
  /** Requests (over all threads) after which the worker retires; Infinity for never. */
  limit: number;
  log: Logger;
  /** max_requests was reached. */
  onRetire(): void;
  /** The process cannot go on serving (no thread can load the app, or one cannot be stopped). */
  onLost(): void;
  /** The worker's request counters on the scoreboard (--metrics-bind): the threads' summed. */
  counters?: Float64Array;
}

/** A connection accepted by the process, on its way to a thread. */
interface Handover {
  fd: number;
  listener: number;
  unix: boolean;
}

export class ThreadPool {
  readonly #options: PoolOptions;
  readonly #threads = new Set<ThreadHandle>();
  readonly #origin = Date.now();
  readonly #served = new SharedArrayBuffer(4);
  readonly #gates: AcceptGate[] = [];
  #admission: Admission | undefined;
  /** Connections accepted while no thread was ready to take them. */
  readonly #pending: Handover[] = [];
  #nextId = 1;
  #closed = false;
  /** The request counters of threads gone, so the worker's totals never go down. */
  readonly #goneCounters = new Float64Array(METRIC_COUNTERS);
  /** The threads' sum as last added to the worker's counters. */
  #summed = new Float64Array(METRIC_COUNTERS);
  /** The threads' open WebSockets as last sent to statsd. */
  #websockets = 0;

  private constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Starts every thread and waits until each has loaded the app; AppLoadError if one cannot. */
  static async start(options: PoolOptions): Promise<ThreadPool> {
    const pool = new ThreadPool(options);
    try {
      await Promise.all(Array.from({ length: options.config.threads }, () => pool.#spawn()));
    } catch (error) {
      pool.close();
      throw error;
    }
    return pool;
  }

  /** Accepts on the worker's listeners and hands the connections to the threads. */
  async serve(listeners: { fd: number }[], { fds, admission, report }: Gate): Promise<void> {
    this.#admission = admission;
    for (const [index, listener] of listeners.entries()) {
      const gate: AcceptGate = new AcceptGate(listener.fd, {
        pauseOnConnect: true,
        fds,
        report,
        onConnection: (socket: net.Socket) => {
          let fd: number;
          try {
            fd = this.#options.runtime.detachSocket(socket);
          } catch {
            socket.destroy();
            return;
          }
          this.#handOver({ fd, listener: index, unix: gate.unix });
          // The threads count the connections they closed in shared memory: counting only the
          // new ones here until the heartbeat's recount held the gate "full" once
          // worker_connections had been accepted in that second (under Connection: close, a
          // ceiling of about worker_connections requests per second).
          admission.recount(this.#open());
        },
      });
      await gate.open();
      admission.add(gate);
      this.#gates.push(gate);
    }
  }

  /**
   * Run on the worker's heartbeat: counts the connections the threads hold (for the worker's
   * connection limit and share), and answers for and replaces threads that hang.
   */
  checkLiveness(): void {
    this.#admission?.recount(this.#open());
    this.#sumCounters();
    this.#gaugeWebSockets();
    const now = Date.now();
    for (const gate of this.#gates) gate.tick(now);
    const limit = this.#options.config.timeout * 1000;
    if (limit <= 0) return;
    for (const thread of this.#threads) {
      if (!thread.live) continue;
      if (thread.slots.oldest() > limit) {
        this.#lose(thread, "ran a request past the timeout");
      } else if (thread.slots.silence() > limit) {
        this.#lose(thread, "stopped answering (busy past the timeout)");
      }
    }
  }

  // Each thread keeps its count of open WebSockets in its slots; the worker's gauge is their sum
  // (a thread gone took its sockets with it), sent when it changed.
  #gaugeWebSockets(): void {
    let open = 0;
    for (const thread of this.#threads) if (!thread.dead) open += thread.slots.websockets;
    if (open === this.#websockets) return;
    this.#websockets = open;
    this.#options.log.websocketsOpen(open);
  }

  // The threads count their requests in memory of their own; the scoreboard gets what their sum
  // grew by (added, not set: the process adds its own log drops to the same counters).
  #sumCounters(): void {
    const into = this.#options.counters;
    if (!into) return;
    const sum = new Float64Array(this.#goneCounters);
    for (const thread of this.#threads) addCounters(sum, new Float64Array(thread.counters));
    for (let i = 0; i < sum.length; i++) into[i] += sum[i] - this.#summed[i];
    this.#summed = sum;
  }

  /** Graceful: no new connections; each thread finishes its requests within graceMs. */
  async stop(graceMs: number): Promise<void> {
    for (const gate of this.#gates) gate.close();
    const live = [...this.#threads].filter((t) => t.live);
    await Promise.race([
      Promise.all(live.map((thread) =>
        new Promise<void>((resolve) => {
          thread.drained = resolve;
          thread.post({ t: "drain", graceMs });
        })
      )),
      // A thread that cannot drain (hung) must not keep the process.
      new Promise((resolve) => setTimeout(resolve, graceMs + 1000)),
    ]);
    this.close();
  }

  /** USR1: every thread reopens its log files. */
  reopen(): void {
    for (const thread of this.#threads) if (thread.loaded) thread.post({ t: "reopen" });
  }

  /** Terminates every thread (the process is exiting). */
  close(): void {
    this.#closed = true;
    for (const gate of this.#gates) gate.close();
    for (const thread of this.#threads) thread.terminate();
    this.#threads.clear();
  }

  /** Connections open in the threads or waiting for one. */
  #open(): number {
    let open = this.#pending.length;
    for (const thread of this.#threads) if (!thread.dead) open += thread.open;
    return open;
  }

  /** Gives a connection to the live thread with the fewest open ones. */
  #handOver(conn: Handover): void {
    let best: ThreadHandle | undefined;
    for (const thread of this.#threads) {
      if (!thread.live) continue;
      if (!best || thread.open < best.open) best = thread;
    }
    if (!best) return void this.#pending.push(conn);
    best.handed++;
    best.post({ t: "conn", ...conn });
  }

  #spawn(): Promise<void> {
    const { runtime, config } = this.#options;
    const thread = new ThreadHandle(
      this.#nextId++,
      runtime.threadEntry(),
      newSlots(),
      this.#origin,
    );
    this.#threads.add(thread);
    return new Promise<void>((resolve, reject) => {
      thread.worker.onmessage = (event: MessageEvent<ToPool>) => {
        const message = event.data;
        if (message.t === "loaded") {
          thread.loaded = true;
          resolve();
          for (const conn of this.#pending.splice(0)) this.#handOver(conn);
        } else if (message.t === "load-failed") {
          this.#threads.delete(thread);
          thread.terminate();
          reject(new AppLoadError(`In a gthread thread: ${message.message}`));
        } else if (message.t === "retire") {
          this.#options.onRetire();
        } else if (message.t === "drained") {
          thread.drained?.();
        }
      };
      const died = (reason: string) => {
        if (!thread.loaded) {
          this.#threads.delete(thread);
          thread.terminate();
          reject(new AppLoadError(`In a gthread thread: app module ${config.app}: ${reason}`));
        } else {
          this.#lose(thread, reason, true);
        }
      };
      // Unhandled, an error event in a Deno Worker also takes the parent down.
      thread.worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        died(`crashed: ${crashLine(event)}`);
      };
      thread.worker.onmessageerror = () => died("sent a message that cannot be read");
      // Bun reports a thread that ended itself (process.exit() inside it).
      thread.worker.addEventListener("close", () => died("exited"));
      thread.post({
        t: "start",
        version: PROTOCOL_VERSION,
        config,
        age: this.#options.age,
        slots: thread.buffer,
        inflight: thread.inflight,
        counters: thread.counters,
        served: this.#served,
        limit: this.#options.limit,
        origin: this.#origin,
      });
    });
  }

  /**
   * A thread hangs, or crashed (`crashed`): the process answers the requests a hung thread
   * had not begun answering, then replaces it.
   */
  #lose(thread: ThreadHandle, reason: string, crashed = false): void {
    if (thread.dead) return;
    thread.dead = true;
    addCounters(this.#goneCounters, new Float64Array(thread.counters));
    const { log, runtime } = this.#options;
    if (crashed) log.error(`Thread ${thread.id} ${reason}`);
    else {
      const inflight = new InflightTable(new Uint8Array(thread.inflight)).read();
      const now = Date.now();
      const head = `THREAD TIMEOUT (thread ${thread.id} ${reason})`;
      const where = `thread ${thread.id} (pid:${process.pid})`;
      const lines = timeoutLines(head, where, inflight, now, "gthread worker");
      lines.forEach((line) => log.critical(line));
      // A crashed thread answered its own requests on its way out; its fds are closed now and
      // may already name other connections. A hung thread still holds them.
      const claimed = thread.slots.claimAll();
      const oldest = Math.max(...claimed.map((c) => c.age));
      for (const { fd, age } of claimed) {
        // The request that hung the thread gets the 504; those waiting behind it a 503.
        answerClaimed(runtime.libc(), fd, age === oldest ? 504 : 503);
      }
      // Their access lines, which the hung thread cannot write: oldest first, as answered.
      if (claimed.length) {
        const statuses = inflight.requests.map((_, i) => (i === 0 ? 504 : 503));
        logInflightAccess(log, inflight.requests.slice(0, claimed.length), now, statuses);
      }
    }
    this.#threads.delete(thread);
    if (!crashed && !runtime.stopsBusyThreads) {
      // Deno's terminate() leaves a busy thread running: only the process's end stops it.
      log.error(
        `The ${runtime.name} runtime cannot stop a busy thread: worker exiting to be replaced`,
      );
      this.#options.onLost();
      return;
    }
    thread.terminate();
    if (this.#closed) return;
    log.info(`Replacing thread ${thread.id}`);
    this.#spawn().catch((error) => {
      // The app loaded before but not now (changed on disk?). With no thread left the process
      // cannot serve: give up, so the master starts a fresh worker.
      log.error((error as Error).message);
      if (this.#threads.size > 0 || this.#closed) return;
      log.error("No gthread thread left: worker exiting to be replaced");
      this.#options.onLost();
    });
  }
}
