// gthread's pool of Web Worker threads inside one worker process: starts
// them, has them accept on the worker's listeners (they share connections out
// among themselves: thread_board.ts), keeps the worker's share next to its
// sibling processes for them, and watches them. The process's event loop
// never runs app code, so its heartbeat keeps flowing while threads are busy;
// it watches each thread through shared memory (thread_slots.ts). A thread
// whose app holds a request past `timeout` (time waiting for the app does not
// count) or that stops turning its event loop loses
// its unanswered requests to the process, which answers them itself (504 for
// the one that hung it, 503 for those waiting behind it), and is replaced.
// Where the runtime cannot stop a busy thread (Deno), the whole worker process
// retires instead. A thread that crashes, or that the app exits, answers its
// own requests with a 500 on its way out (workers/thread_entry.ts). Whoever
// answers a request writes its access line (thread_answers.ts).

import process from "node:process";
import { setInterval } from "node:timers";
import type { Config } from "../config/settings.ts";
import { AppLoadError } from "../errors.ts";
import { PROTOCOL_VERSION, type ToPool } from "../ipc/messages.ts";
import type { Logger } from "../log/logger.ts";
import type { Admission } from "../net/admission.ts";
import type { Runtime } from "../runtime/types.ts";
import { crashLine, ThreadHandle } from "./thread_handle.ts";
import { after, type Claimed, newSlots } from "./thread_slots.ts";
import {
  answerClaimedRequests,
  answerParked,
  answerUnadopted,
  unreadAnswerOptions,
} from "./thread_answers.ts";
import { CUT_OFF_STATUS } from "../http/status_reply.ts";
import type { InflightTable } from "../ipc/inflight.ts";
import { ThreadBoard } from "./thread_board.ts";
import { sharedWithMaster, ThreadTables } from "./thread_inflight.ts";
import type { KilledRequests } from "../ipc/quick_stop_report.ts";
import { addUnparsed, type UnparsedConnections } from "../http/server.ts";
import {
  addCounters,
  closeWebSockets,
  METRIC_COUNTERS,
  openWebSockets,
} from "../ipc/request_metrics.ts";
import { timeoutLines } from "../ipc/inflight_report.ts";
import type { Gate } from "./worker_class.ts";
import { tlsEnabled, type TlsFiles } from "../tls/tls_files.ts";

export interface PoolOptions {
  runtime: Runtime;
  config: Config;
  /** The worker's age (hooks' `worker.age`). */
  age: number;
  /** The certificate and key the master gave the process, for every thread; null without TLS. */
  tls: TlsFiles | null;
  /** Requests (over all threads) after which the worker retires; Infinity for never. */
  limit: number;
  log: Logger;
  /** max_requests was reached. */
  onRetire(): void;
  /** The process cannot go on serving (no thread can load the app, or one cannot be stopped). */
  onLost(): void;
  /** The worker's request counters on the scoreboard (--metrics-bind): the threads' summed. */
  counters?: Float64Array;
  /**
   * The worker's in-flight table on the scoreboard, when it is kept (WorkerContext.inflight):
   * the threads write their requests in regions of it, where the master reads them.
   */
  inflightTable?: InflightTable;
  /** What a thread's loading of the app warned about. */
  appWarning(message: string): void;
}

// How often the process counts its threads' connections for the share (between heartbeats).
const RECOUNT_MS = 100;
/**
 * How long past a drain's deadline the process waits for a thread to cut off its requests
 * itself, before it answers for a thread that cannot (stuck in app code): within the master's
 * margin before its SIGKILL (src/master/arbiter.ts, STOP_MARGIN_MS).
 */
const CUT_OFF_MARGIN_MS = 250;

export class ThreadPool {
  readonly #options: PoolOptions;
  readonly #threads = new Set<ThreadHandle>();
  readonly #origin = Date.now();
  readonly #served = new SharedArrayBuffer(4);
  readonly #board: ThreadBoard;
  readonly #tables: ThreadTables;
  #admission: Admission | undefined;
  /** The worker's listeners, once serve() was called: threads started later accept on them too. */
  #listeners: { fd: number }[] | undefined;
  /** The worker has more than its share: its threads hold their listeners. */
  #shareHeld = false;
  #counting: ReturnType<typeof setInterval> | undefined;
  /** A thread was told to call the app's onListen. */
  #onListenAsked = false;
  #nextId = 1;
  /** stop() began: threads that load from now on neither accept nor replace one. */
  #stopping = false;
  #closed = false;
  /** What the threads had in flight when close() terminated them. */
  #killed: KilledRequests[] = [];
  /** The request counters of threads gone, so the worker's totals never go down. */
  readonly #goneCounters = new Float64Array(METRIC_COUNTERS);
  /** The threads' sum as last added to the worker's counters. */
  #summed = new Float64Array(METRIC_COUNTERS);

  private constructor(options: PoolOptions) {
    this.#options = options;
    this.#board = new ThreadBoard(options.config.threads, options.config.worker_connections);
    this.#tables = new ThreadTables(
      options.runtime.libc(),
      options.config.threads,
      options.inflightTable,
    );
  }

  /** Starts every thread and waits until each has loaded the app; AppLoadError if one cannot. */
  static async start(options: PoolOptions): Promise<ThreadPool> {
    const { threads, worker_connections: max } = options.config;
    if (max < threads) {
      options.log.warning(
        `--worker-connections ${max} is split between --threads ${threads}: ` +
          `${threads - max} of them take no connection`,
      );
    }
    const pool = new ThreadPool(options);
    try {
      await Promise.all(Array.from({ length: options.config.threads }, (_, i) => pool.#spawn(i)));
    } catch (error) {
      pool.close();
      throw error;
    }
    return pool;
  }

  /**
   * Has every thread accept on the worker's listeners; resolves once they do. The threads keep
   * worker_connections (each its part) and the fds; the process keeps the share.
   */
  async serve(listeners: { fd: number }[], { admission }: Gate): Promise<void> {
    this.#admission = admission;
    this.#listeners = listeners;
    admission.add({
      hold: (reason) => {
        if (reason === "share") this.#holdForShare(true);
      },
      release: (reason) => {
        if (reason === "share") this.#holdForShare(false);
      },
    });
    const live = [...this.#threads].filter((thread) => thread.live);
    await Promise.all(live.map((thread) => this.#listen(thread)));
    this.#counting = setInterval(() => this.#count(), RECOUNT_MS);
  }

  #listen(thread: ThreadHandle): Promise<void> {
    // A fresh row: a sibling may have counted a hand-off to the thread this one replaces.
    this.#board.gone(thread.index);
    return new Promise<void>((resolve, reject) => {
      thread.listening = { resolve, reject };
      // The app's onListen runs once a worker (as Deno's once a serve): by the first thread
      // told to listen, not again by one that replaces a thread that died or hung.
      const onListen = !this.#onListenAsked;
      this.#onListenAsked = true;
      thread.post({ t: "listen", listeners: this.#listeners!, onListen });
      if (this.#shareHeld) thread.post({ t: "share", held: true });
    });
  }

  /** The threads' connections, for the worker's connection limit and share. */
  #count(): void {
    this.#admission?.recount(this.#board.total(), this.#board.kept());
  }

  #holdForShare(held: boolean): void {
    this.#shareHeld = held;
    for (const thread of this.#threads) if (thread.live) thread.post({ t: "share", held });
  }

  /** A thread hands a connection to a sibling (thread_board.ts); one gone passes it on. */
  #handOff(message: Extract<ToPool, { t: "handoff" }>): void {
    const { fd, listener, unix } = message;
    let thread = this.#at(message.to) ?? this.#draining(message.to);
    if (thread === undefined) {
      this.#board.arrived(message.to);
      const to = this.#board.fewest();
      thread = to < 0 ? undefined : this.#at(to);
      if (thread === undefined && to >= 0) this.#board.arrived(to);
    }
    if (thread === undefined) return this.#answerUnadopted(fd);
    const n = thread.nextHandoff();
    thread.handed.push({ n, fd });
    thread.post({ t: "conn", fd, listener, unix, n });
  }

  /**
   * The live thread at `index` if it was told to drain: a sibling handed it this connection before
   * it stopped taking, and its drain waits for what is on its way to it (workers/thread_entry.ts).
   */
  #draining(index: number): ThreadHandle | undefined {
    if (index < 0 || !this.#stopping) return undefined;
    for (const thread of this.#threads) {
      if (thread.index === index && thread.live && thread.drained && !thread.drainedAll) {
        return thread;
      }
    }
    return undefined;
  }

  /** The live thread at `index` on the board, if it accepts. */
  #at(index: number): ThreadHandle | undefined {
    if (index < 0 || !this.#board.taking(index)) return undefined;
    for (const thread of this.#threads) if (thread.index === index && thread.live) return thread;
    return undefined;
  }

  /**
   * Run on the worker's heartbeat: sums the threads' counters, forgets hand-offs they took, and
   * answers for and replaces threads that hang. (Their connections are counted every 100 ms.)
   */
  checkLiveness(): void {
    this.#sumCounters();
    for (const thread of this.#threads) {
      const adopted = thread.slots.adopted;
      if (thread.handed.length) thread.handed = thread.handed.filter((h) => after(h.n, adopted));
    }
    const limit = this.#options.config.timeout * 1000;
    if (limit <= 0) return;
    for (const thread of this.#threads) {
      if (!thread.live) continue;
      // Not a request's age: one that waits behind others on a thread whose loop turns and whose
      // app answers is not stuck (gunicorn's timeout is a heartbeat, not a request deadline).
      if (thread.slots.heldInApp() > limit) {
        this.#lose(thread, "ran a request past the timeout");
      } else if (thread.slots.silence() > limit) {
        this.#lose(thread, "stopped answering (busy past the timeout)");
      }
    }
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
    this.#stopping = true;
    clearInterval(this.#counting);
    const live = [...this.#threads].filter((t) => t.live);
    await Promise.race([
      Promise.all(live.map((thread) =>
        new Promise<void>((resolve) => {
          thread.drained = resolve;
          thread.post({ t: "drain", graceMs });
        })
      )),
      // A thread that cannot drain (hung) must not keep the process.
      new Promise((resolve) => setTimeout(resolve, graceMs + CUT_OFF_MARGIN_MS)),
    ]);
    for (const thread of this.#threads) if (!thread.drainedAll) this.#cutOff(thread, graceMs);
    // What the threads counted since the last heartbeat (their cut-off requests with it), before
    // the process exits and the master takes its counters as they are.
    this.#sumCounters();
    this.close();
  }

  /**
   * A thread stuck past the drain's deadline cannot cut off its requests itself (its timer never
   * fires): the process answers those it had not begun answering, as a hung thread's, and names
   * them as the thread would have: a 504 for the one the app was running, 503 for those waiting
   * behind it. Before the thread is terminated, while their fds are still open (under Deno a
   * busy thread outlives terminate(); under Bun it may take its fds along).
   */
  #cutOff(thread: ThreadHandle, graceMs: number): void {
    const { log, runtime, config } = this.#options;
    const claimed = thread.slots.claimAll();
    // Those its server keeps unread for want of room (parked) get the 503 they get at THREAD
    // TIMEOUT, not a bare close when the thread or the process ends: a stuck thread never closes
    // its server. Shut down but not closed, as there: the thread's sockets own the fds.
    thread.slots.claimParked((fd) => this.#answerParked(fd));
    answerClaimedRequests(claimed, {
      libc: runtime.libc(),
      log,
      table: thread.inflight.table,
      // The cut-off's reply (status_reply.ts), as Connection.cut gives it on a thread that speaks.
      status: (c) => (c.inApp ? CUT_OFF_STATUS : 503),
      tls: tlsEnabled(config),
      cutOff: { where: `thread ${thread.id} (pid:${process.pid})`, graceSeconds: graceMs / 1000 },
      counters: this.#options.counters,
    });
    // Answered and logged here: not the master's to name again should this process outlast its
    // stop (its table is a region of the worker's).
    thread.inflight.table.clear();
  }

  /** USR1: every thread reopens its log files. */
  reopen(): void {
    for (const thread of this.#threads) if (thread.loaded) thread.post({ t: "reopen" });
  }

  /**
   * The process exits without a drain (INT, QUIT, a crash): each thread sends its statsd batch
   * first, which terminate() would lose; a thread that cannot answer within `ms` is not waited for.
   * `quick` (INT, QUIT): each thread first ends its responses under way (HttpServer.cutUnderWay)
   * and closes its connections with no request read yet (HttpServer.dropUnparsed), counted here
   * over the threads that answered.
   */
  async flush(ms: number, quick = false): Promise<UnparsedConnections> {
    const unparsed: UnparsedConnections = { connections: 0, partial: 0 };
    const live = [...this.#threads].filter((t) => t.loaded && !t.dead && !t.drainedAll);
    await askAll(live, ms, (thread, answered) => {
      thread.flushed = (some) => {
        addUnparsed(unparsed, some);
        answered();
      };
      thread.post({ t: "flush", quick });
    });
    return unparsed;
  }

  /**
   * A quick stop, before its worker_int hook: every live thread stops accepting for good (its
   * servers' copies of the listening sockets closed) and says so; a thread that does not answer
   * within `ms` (stuck in app code) is not waited for. No thread is replaced or listens from now
   * on: the process exits next.
   */
  async stopAccepting(ms: number): Promise<void> {
    this.#stopping = true;
    const live = [...this.#threads].filter((t) => t.live);
    await askAll(live, ms, (thread, answered) => {
      thread.acceptingStopped = answered;
      thread.post({ t: "stop-accepting" });
    });
  }

  /** Terminates every thread (the process is exiting). */
  close(): void {
    // Read at the moment terminate() ends them (a drain that finished left none).
    if (!this.#closed) this.#killed = this.inflight();
    this.#closed = true;
    clearInterval(this.#counting);
    for (const thread of this.#threads) {
      thread.terminate();
      this.#answerHanded(thread);
    }
    this.#threads.clear();
  }

  /**
   * The requests each thread has in flight in a table of its own (not a region of the worker's,
   * which the worker reads as its own table); once close() terminated them, what they had then. A
   * thread given up on (hung) is not among them: its requests were answered.
   */
  inflight(): KilledRequests[] {
    if (this.#closed) return this.#killed;
    return [...this.#threads].flatMap((thread) => {
      if (sharedWithMaster(thread.inflight.where)) return [];
      const inflight = thread.inflight.table.read();
      if (!inflight.requests.length && !inflight.more) return [];
      return [{ where: `thread ${thread.id} (pid:${process.pid})`, inflight }];
    });
  }

  /**
   * Connections handed to a thread that ended, or was given up on, before it took them: it takes
   * none from now on (its slots are sealed, whether or not it still runs), and they are answered
   * and closed here.
   */
  #answerHanded(thread: ThreadHandle): void {
    const adopted = thread.slots.seal();
    for (const { n, fd } of thread.handed) if (after(n, adopted)) this.#answerUnadopted(fd);
    thread.handed = [];
  }

  /** A handed connection no thread takes: a 503, with the access line of its request. */
  #answerUnadopted(fd: number): void {
    const { runtime, log, config } = this.#options;
    answerUnadopted(fd, unreadAnswerOptions(runtime.libc(), log, config));
  }

  /** A parked connection of a thread hung or cut off: a 503, with the access line of its request. */
  #answerParked(fd: number): void {
    const { runtime, log, config } = this.#options;
    answerParked(fd, unreadAnswerOptions(runtime.libc(), log, config));
  }

  #spawn(index: number): Promise<void> {
    const { runtime, config } = this.#options;
    const thread = new ThreadHandle(
      this.#nextId++,
      index,
      (name) => runtime.startThread(name),
      newSlots(),
      this.#origin,
      this.#tables.forThread(index),
    );
    this.#threads.add(thread);
    return new Promise<void>((resolve, reject) => {
      thread.worker.onmessage = (event: MessageEvent<ToPool>) => {
        const message = event.data;
        if (message.t === "handoff") {
          this.#handOff(message);
        } else if (message.t === "loaded") {
          thread.loaded = true;
          for (const warning of message.warnings) this.#options.appWarning(warning);
          resolve();
          // A replacement: it accepts as the others do (unless the worker stops).
          if (this.#listeners !== undefined && !this.#stopping) {
            this.#listen(thread).catch((error) => {
              // Its part of worker_connections would be lost for good: a fresh worker instead.
              this.#options.log.error(`Thread ${thread.id} cannot accept: ${error.message}`);
              this.#options.onLost();
            });
          }
        } else if (message.t === "listening") {
          thread.listening?.resolve();
        } else if (message.t === "listen-failed") {
          thread.listening?.reject(new Error(message.message));
        } else if (message.t === "load-failed") {
          this.#threads.delete(thread);
          thread.terminate();
          reject(new AppLoadError(`In a gthread thread: ${message.message}`));
        } else if (message.t === "retire") {
          this.#options.onRetire();
        } else if (message.t === "crashed") {
          died(`crashed: ${message.message}`);
        } else if (message.t === "exited") {
          died(`exited: the app called exit with code ${message.code}`);
        } else if (message.t === "drained") {
          thread.drained?.();
          thread.drainedAll = true;
        } else if (message.t === "flushed") {
          thread.flushed?.(message.unparsed);
        } else if (message.t === "accepting-stopped") {
          thread.acceptingStopped?.();
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
        tls: this.#options.tls,
        age: this.#options.age,
        slots: thread.buffer,
        inflight: thread.inflight.where,
        id: thread.id,
        counters: thread.counters,
        served: this.#served,
        limit: this.#options.limit,
        origin: this.#origin,
        board: this.#board.buffer,
        index,
      });
    });
  }

  /**
   * A thread hangs, or ended (`ended`: it crashed, or the app exited it): the process answers the
   * requests a hung thread had not begun answering and the connections handed to it that it did
   * not take, then replaces it.
   */
  #lose(thread: ThreadHandle, reason: string, ended = false): void {
    if (thread.dead) return;
    thread.dead = true;
    this.#board.gone(thread.index);
    // Its replacement accepts once it loaded; serve() need not wait for it.
    thread.listening?.resolve();
    const counted = new Float64Array(thread.counters);
    addCounters(this.#goneCounters, counted);
    // Its WebSockets went with it: none stays open in the master's gauge.
    closeWebSockets(this.#goneCounters, openWebSockets(counted));
    const { log, runtime } = this.#options;
    // A thread that ended answered its own requests on its way out; its fds are closed now and
    // may already name other connections. A hung thread still holds them.
    if (ended) log.error(`Thread ${thread.id} ${reason}`);
    else this.#answerHung(thread, reason);
    this.#threads.delete(thread);
    this.#answerHanded(thread);
    // Answered (by it or here) and logged: nothing the master should name or count (its
    // replacement takes its region over).
    thread.inflight.table.clear();
    if (!ended && !runtime.stopsBusyThreads) {
      // A worker already stopping says nothing more: it exits at the end of its drain anyway.
      if (this.#stopping) return;
      // Still running: once its loop turns again, it stops accepting (its row is gone) and
      // closes its connections gracefully.
      thread.post({ t: "drain", graceMs: this.#options.config.graceful_timeout * 1000 });
      // Deno's terminate() leaves a busy thread running: only the process's end stops it.
      log.error(
        `The ${runtime.name} runtime cannot stop a busy thread: worker exiting to be replaced`,
      );
      this.#options.onLost();
      return;
    }
    thread.terminate();
    if (this.#closed || this.#stopping) return;
    log.info(`Replacing thread ${thread.id}`);
    this.#spawn(thread.index).catch((error) => {
      // The app loaded before but not now (changed on disk?). With no thread left the process
      // cannot serve: give up, so the master starts a fresh worker.
      log.error((error as Error).message);
      if (this.#threads.size > 0 || this.#closed) return;
      log.error("No gthread thread left: worker exiting to be replaced");
      this.#options.onLost();
    });
  }

  /**
   * THREAD TIMEOUT: names what the hung thread has in flight, then answers the requests it has
   * not begun answering and writes their access lines, which it cannot: the one that hung it
   * (the app's) gets the 504, those waiting behind it a 503, and so do the connections that wait
   * on it unread (handed to it, or parked by its server).
   */
  #answerHung(thread: ThreadHandle, reason: string): void {
    const { log, runtime, config } = this.#options;
    const table = thread.inflight.table;
    const head = `THREAD TIMEOUT (thread ${thread.id} ${reason})`;
    const where = `thread ${thread.id} (pid:${process.pid})`;
    const lines = timeoutLines(head, where, table.read(), Date.now(), "gthread worker");
    lines.forEach((line) => log.critical(line));
    // Sealed first: a connection handed to it after is its own to answer, and so is a request
    // it starts after the claim (SlotWriter.queued).
    thread.slots.seal();
    const claimed = thread.slots.claimAll();
    // Connections handed to it that wait there for room, as bare fds: a 503 each (terminate()
    // cannot close those).
    for (const fd of thread.slots.claimWaiting()) this.#answerUnadopted(fd);
    // Those its own server accepted and keeps unread for want of room: a 503 each too, shut down
    // but not closed (the thread's sockets own them, and close them if its loop turns again).
    thread.slots.claimParked((fd) => this.#answerParked(fd));
    // The request the app runs, else the oldest. By age alone, requests that started in the same
    // millisecond as the one in the app got a 504 too.
    const oldest = Math.max(...claimed.map((c) => c.age));
    const inApp = claimed.some((c) => c.inApp);
    const hung = (c: Claimed) => (inApp ? c.inApp : c.age === oldest);
    answerClaimedRequests(claimed, {
      libc: runtime.libc(),
      log,
      table,
      status: (c) => (hung(c) ? 504 : 503),
      tls: tlsEnabled(config),
      counters: this.#options.counters,
    });
  }
}

/**
 * Asks each of `threads` something (`ask` posts it and keeps `answered` for its reply); resolves
 * once each has answered, or after `ms`: a thread that cannot answer (hung) must not keep the
 * process.
 */
async function askAll(
  threads: ThreadHandle[],
  ms: number,
  ask: (thread: ThreadHandle, answered: () => void) => void,
): Promise<void> {
  if (threads.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(threads.map((thread) => new Promise<void>((resolve) => ask(thread, resolve)))),
    new Promise((resolve) => timer = setTimeout(resolve, ms)),
  ]);
  clearTimeout(timer);
}
