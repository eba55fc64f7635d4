// What every worker process does, whatever its class (gunicorn's
// Worker.init_process()): a side-effect-free constructor, init() (logger,
// hooks, signals, channel, then the class's boot()), serve() (the accept gate
// and the class's serve(), then the heartbeat), drain(), exit(). The class
// does the rest (worker_class.ts). Runs in the child; never imports master/.

import { Socket } from "node:net";
import process from "node:process";
import { loadApp } from "../app/load_app.ts";
import { describeUserError } from "../app/user_error.ts";
import { ExitCode } from "../exit_codes.ts";
import type { Config } from "../config/settings.ts";
import type { AppHandler } from "../fetch_handler.ts";
import { appLoadFailure, firstLine } from "../errors.ts";
import { HookRunner, type ServerInfo, withRequestHooks, type WorkerInfo } from "../hooks.ts";
import { readSync } from "node:fs";
import { setImmediate } from "node:timers";
import { BootMismatch, send, sendNow, takeBoot, takeTls } from "../ipc/channel.ts";
import {
  BOOT_ENV,
  CHANNEL_FD,
  REOPEN_LOGS_BYTE,
  type RetireReason,
  type ToMaster,
  type WorkerBoot,
} from "../ipc/messages.ts";
import { captureOutput } from "../log/capture_output.ts";
import { createLogger } from "../log/create_logger.ts";
import { withRequestSpans } from "../log/request_span.ts";
import type { Logger } from "../log/logger.ts";
import type { AppserveExports } from "../log/logger_class.ts";
import { libcFds } from "../net/accept_gate.ts";
import { Admission } from "../net/admission.ts";
import { releaseListeners } from "../net/release_listeners.ts";
import { processTitle } from "../process_title.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Scoreboard } from "../ipc/scoreboard.ts";
import type { TlsFiles } from "../tls/tls_files.ts";
import { accessInflightFields } from "../ipc/inflight_fields.ts";
import { logCutOff, logCutOffSessions } from "../ipc/inflight_report.ts";
import {
  type KilledRequests,
  logQuickStopKilled,
  logQuickStopUnread,
} from "../ipc/quick_stop_report.ts";
import {
  countDropped,
  countWebSockets,
  type DroppedLines,
  type WebSocketSessions,
} from "../ipc/request_metrics.ts";
import { logAppError } from "./app_error.ts";
import { Balance, mapScoreboard } from "./balance.ts";
import { checkApp } from "./check_app.ts";
import { failureAnswer } from "./failure_answer.ts";
import { InflightWatch } from "./inflight_watch.ts";
import { workerClass } from "./registry.ts";
import { withRequestTimeout } from "./request_timeout.ts";
import { installWebSockets, keepWebSocketHandlers, webSocketHub } from "./websockets.ts";
import type { WebSocketHub } from "../http/websocket/hub.ts";
import type { Gate, WorkerClass, WorkerContext } from "./worker_class.ts";
import { onUncaught } from "./uncaught.ts";
import { callOnListen, listenAddrs } from "./on_listen.ts";
import { F_SETFD, FD_CLOEXEC } from "../net/socket_constants.ts";

/** Beats come at least four times per timeout, and at least once a second. */
export function beatInterval(timeoutSeconds: number): number {
  return timeoutSeconds > 0 ? Math.min(1000, Math.max(50, (timeoutSeconds * 1000) / 4)) : 1000;
}

/**
 * How long an exiting worker waits for the ends of the WebSocket sessions it cut or dropped: an
 * event or two after their sockets closed; well under the 2 s a quick stop has before SIGKILL.
 */
const SESSION_ENDS_MS = 500;

/** max_requests + randint(0, max_requests_jitter), or Infinity when recycling is off. */
export function requestLimit(config: Pick<Config, "max_requests" | "max_requests_jitter">): number {
  if (config.max_requests <= 0) return Infinity;
  return config.max_requests + Math.floor(Math.random() * (config.max_requests_jitter + 1));
}

/** What a worker process is run with, besides its boot. */
export interface WorkerOptions {
  runtime: Runtime;
  /** The certificate and key the master gave this worker; null without TLS. */
  tls: TlsFiles | null;
  /** The program's `appserve` exports, for a --logger-class module (see AppserveExports). */
  appserve: AppserveExports;
}

export class Worker {
  readonly #boot: WorkerBoot;
  readonly #config: Config;
  readonly #runtime: Runtime;
  readonly #appserve: AppserveExports;
  readonly #tls: TlsFiles | null;
  #log!: Logger;
  readonly #limit: number;
  #channel: Socket | undefined;
  #hooks: HookRunner | undefined;
  #class: WorkerClass | undefined;
  #admission: Admission | undefined;
  #board: Scoreboard | undefined;
  #inflight: InflightWatch | undefined;
  /** The worker's request counters on the scoreboard (--metrics-bind, the control socket). */
  #counters: Float64Array | undefined;
  /** The log lines dropped that are counted in #counters already. */
  readonly #dropped: DroppedLines = { syslog: 0, otel: 0 };
  readonly #sessions: WebSocketSessions = { opened: 0, closed: 0 };
  #requests = 0;
  /** What loading the app warned about (appWarning()), sent with "ready". */
  readonly #appWarnings: string[] = [];
  /** "ready" was sent. */
  #ready = false;
  #retiring = false;
  #draining = false;
  /** A quick stop (INT, QUIT, ABRT) has begun. */
  #quitting = false;
  /** The quick stop is INT's or QUIT's: this worker names what its exit kills. */
  #namesKilled = false;
  #exiting: Promise<never> | undefined;
  /** The worker stopped accepting for its exit (#stopAccepting()). */
  #acceptingStopped: Promise<void> | undefined;
  #websockets: WebSocketHub | undefined;
  /** The app's onListen (`deno serve`'s), for the worker's own event loop. */
  #onListen: AppHandler["onListen"];

  constructor(boot: WorkerBoot, { runtime, appserve, tls }: WorkerOptions) {
    this.#boot = boot;
    this.#tls = tls;
    this.#config = Object.freeze(boot.config);
    this.#runtime = runtime;
    this.#appserve = appserve;
    this.#limit = requestLimit(this.#config);
  }

  /**
   * Logger, hooks, signals, the master channel, then the class's boot(); exits 4 when the app
   * cannot load.
   */
  async init(): Promise<void> {
    // Before anything of its own or the app's can end this process.
    sendNow(this.#runtime.libc().write, CHANNEL_FD, { t: "hello" });
    this.#channel = new Socket({ fd: CHANNEL_FD, readable: false, writable: true });
    this.#channel.on("error", () => {});
    // Not for a process the app starts (a Deno worker's spawn closes no fd): it would hold the
    // master's end of the channel open after this worker is gone.
    this.#runtime.libc().fcntl(CHANNEL_FD, F_SETFD, FD_CLOEXEC);
    try {
      this.#log = await createLogger(this.#config, {
        role: "worker",
        runtime: this.#runtime,
        appserve: this.#appserve,
      });
    } catch (error) {
      process.stderr.write(`${firstLine(error)}\n`);
      sendBootFailure(this.#runtime, firstLine(error));
      process.exit(ExitCode.WORKER_BOOT_ERROR);
    }
    // The app's process.exit(): the statsd batch of the last moments is sent, as far as it can be.
    process.on("exit", () => this.#log.exiting());
    // Ends the worker as the runtime would (exit 1; the master replaces it), said in the log.
    onUncaught((what, error) => {
      logAppError(this.#log, `${what} in worker process`, error, this.#runtime.explainAppError);
      this.exit(1);
    });
    // Deno's spawn hands a child the stdout/stderr it started with, not the master's fds 1 and 2.
    captureOutput(this.#runtime.libc(), this.#config, "worker", this.#log);
    this.#log.info(`Booting worker with pid: ${process.pid}`);
    this.#runtime.setProcessTitle(processTitle("worker", this.#config));
    let hooks: HookRunner;
    try {
      hooks = this.#hooks = await HookRunner.load(this.#config.hooks, this.#log);
    } catch (error) {
      this.#log.error((error as Error).message);
      sendBootFailure(this.#runtime, firstLine(error));
      return this.exit(ExitCode.WORKER_BOOT_ERROR);
    }
    await this.#bootHook(() => hooks.call("post_fork", this.#server(), this.#info()), "post_fork");
    // stdin is a pipe from the master: EOF means the master is gone.
    process.stdin.on("end", () => {
      this.#log.info(`Parent changed, shutting down: <Worker ${process.pid}>`);
      this.exit(ExitCode.OK);
    });
    process.stdin.on("data", (bytes: Uint8Array) => {
      if (bytes.includes(REOPEN_LOGS_BYTE)) this.#reopenLogs();
    });
    process.stdin.resume();
    process.on("SIGTERM", () => this.drain());
    process.on("SIGINT", () => this.#quit("worker_int", ExitCode.OK));
    process.on("SIGQUIT", () => this.#quit("worker_int", ExitCode.OK));
    // Runs only when the event loop still turns; a stuck worker is SIGKILLed next.
    process.on("SIGABRT", () => this.#quit("worker_abort", 1));
    process.on("SIGWINCH", () => {});
    this.#board = mapScoreboard(this.#runtime.libc(), this.#boot.scoreboard);
    if (this.#board) {
      const slot = this.#boot.scoreboard!.slot;
      // Bench-only (scripts/bench/forensics.ts; docs/architecture.md): the forensics' cost is
      // measured against this same build without them.
      if (process.env.APPSERVE_BENCH_NO_FORENSICS !== "1") {
        this.#inflight = new InflightWatch(this.#board.inflight(slot), {
          fields: accessInflightFields(this.#log, this.#config),
        });
        // The access lines wait where the master writes them out should this loop get stuck.
        this.#log.shareAccessLines(this.#board.pendingAccess(slot));
      } else {
        this.#log.warning(
          "APPSERVE_BENCH_NO_FORENSICS=1: WORKER TIMEOUT names no request and access lines " +
            "waiting when this worker is killed are lost (a benchmark switch)",
        );
      }
      // statsd: the master sends the gauge of open WebSockets from the workers' counters.
      if (this.#config.metrics_bind || this.#boot.control || this.#config.statsd_host) {
        this.#counters = this.#board.counters(slot);
      }
    }
    const Class = workerClass(this.#config);
    // Before any app code is imported (gthread's threads install their own).
    // Sessions are counted as they open and close: the master's gauge is no beat late.
    const websockets = this.#websockets = webSocketHub(
      this.#config,
      this.#log,
      () => this.#countSessions(),
    );
    installWebSockets(this.#runtime, { hub: websockets, config: this.#config, log: this.#log });
    // Responses go through appserve's writer on the shared socket; under --reuse-port, their
    // bodies are told from streams, which are watched (native_body_error.ts, Bun's idle timer).
    if (this.#boot.listeners.length > 0 || this.#boot.reusePort.length > 0) {
      this.#runtime.rememberStaticBodies();
    }
    this.#class = new Class(this.#context(hooks, websockets));
    try {
      await this.#class.boot();
    } catch (error) {
      const message = appLoadFailure(error);
      this.#log.error(message);
      // The master reports it at start-up (to a waiting -D, or when the log is a file).
      this.#send({ t: "failed", message });
      return this.exit(ExitCode.APP_LOAD_ERROR);
    }
    await this.#bootHook(() => hooks.call("post_worker_init", this.#info()), "post_worker_init");
  }

  // As gunicorn's: a worker whose post_fork or post_worker_init failed (a DB pool, tracing the
  // operator set up there) must not serve without it. Its boot fails (exit 3); the master's line
  // names the hook and the user's file:line.
  async #bootHook(call: () => Promise<void>, name: "post_fork" | "post_worker_init") {
    try {
      await call();
    } catch (error) {
      logAppError(this.#log, `Exception in ${name} hook`, error, this.#runtime.explainAppError);
      sendBootFailure(this.#runtime, `${name} hook failed: ${describeUserError(error).headline}`);
      await this.exit(ExitCode.WORKER_BOOT_ERROR);
    }
  }

  /** What the class gets from this process. */
  #context(hooks: HookRunner, websockets: WebSocketHub): WorkerContext {
    const info = this.#info();
    return {
      config: this.#config,
      log: this.#log,
      runtime: this.#runtime,
      boot: this.#boot,
      tls: this.#tls,
      hooks,
      info,
      requestLimit: this.#limit,
      inflight: this.#inflight,
      counters: this.#counters,
      websockets,
      loadApp: async () => {
        const app = await loadApp(this.#config.app, process.cwd(), { runtime: this.#runtime });
        if (app.ignored !== undefined) this.#appWarning(app.ignored);
        if (app.ownServer !== undefined) this.#appWarning(app.ownServer);
        this.#onListen = app.onListen;
        websockets.setHandlers(app.websocket);
        return keepWebSocketHandlers(
          app,
          await withRequestSpans(withRequestHooks(
            // Inside the hooks: post_request gets the 504 of a request that timed out.
            withRequestTimeout(app, this.#config.request_timeout, this.#log),
            hooks,
            info,
            failureAnswer(this.#log, this.#runtime),
          )),
        );
      },
      appWarning: (message) => this.#appWarning(message),
      requestStarted: () => this.#countRequest(),
      retire: (reason) => this.#retire(reason),
      lost: () => this.drain(),
    };
  }

  // Said by the master with "ready"; one that comes later (a gthread thread replaced, loading an
  // app changed on disk since) and is new, here.
  #appWarning(message: string): void {
    if (this.#appWarnings.includes(message)) return;
    this.#appWarnings.push(message);
    if (this.#ready) this.#log.warning(message);
  }

  #info(): WorkerInfo {
    return { pid: process.pid, age: this.#boot.age, log: this.#log };
  }

  /** The `server` argument of hooks run in a worker: the master as this worker knows it. */
  #server(): ServerInfo {
    return {
      pid: process.ppid,
      config: this.#config,
      log: this.#log,
      numWorkers: this.#config.workers,
    };
  }

  /** The master's USR1: the log files again, stdout/stderr again (--capture-output), threads'. */
  #reopenLogs(): void {
    captureOutput(this.#runtime.libc(), this.#config, "worker", this.#log);
    this.#log.reopen().catch((error) => this.#log.error(`Cannot reopen logs: ${firstLine(error)}`));
    this.#class?.reopen?.();
  }

  // A terminal's Ctrl-C reaches a worker twice (the group's INT, then its master's QUIT): the
  // first quick stop runs its hook; the next ones find the exit under way.
  async #quit(hook: "worker_int" | "worker_abort", code: number): Promise<void> {
    if (this.#quitting || this.#exiting) return;
    this.#quitting = true;
    // ABRT's (--timeout) are named by the master, which reads them while this loop is stuck.
    this.#namesKilled = hook === "worker_int";
    // Before the hook, as gunicorn's worker_int runs while nothing is accepted: a client that
    // comes meanwhile is refused (or a sibling's), not accepted and dropped with the process.
    await this.#stopAccepting();
    await this.#hooks?.run(hook, this.#info());
    this.exit(code);
  }

  /** Starts serving and the heartbeat; exits 3 when the listeners cannot be served. */
  async serve(): Promise<void> {
    // Inherited listeners must not leak into processes the app starts.
    const libc = this.#runtime.libc();
    for (const { fd } of this.#boot.listeners) libc.fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (!this.#class) throw new Error("serve() before init()");
    // SIGTERM while the app loaded: its exit is under way; connections are for the siblings.
    if (this.#draining) return;
    try {
      await this.#class.serve(this.#gate());
    } catch (error) {
      this.#log.error(`Cannot serve: ${firstLine(error)}`);
      sendBootFailure(this.#runtime, `Cannot serve: ${firstLine(error)}`);
      return await this.exit(ExitCode.WORKER_BOOT_ERROR);
    }
    this.#ready = true;
    this.#send({ t: "ready", warnings: this.#appWarnings });
    if (this.#onListen) {
      const addrs = listenAddrs(libc, this.#boot);
      callOnListen(this.#onListen, addrs, this.#log, this.#runtime.explainAppError);
    }
    setInterval(() => {
      this.#send({ t: "beat" });
      this.#admission?.beat();
      this.#class?.beat?.();
      if (this.#counters) {
        countDropped(this.#counters, this.#log.dropped, this.#dropped);
      }
      this.#countSessions();
    }, beatInterval(this.#config.timeout));
  }

  // How the listeners accept: within the class's connection limit, the worker's share next to
  // its siblings (the scoreboard) and the fds it has.
  #gate(): Gate {
    const libc = this.#runtime.libc();
    const admission = new Admission(
      workerClass(this.#config).connections(this.#config),
      this.#board && new Balance(this.#board, this.#boot.scoreboard!.slot, process.pid),
    );
    this.#admission = admission;
    // One fd shortage is said once for the worker, not once per listener.
    let warned = -Infinity;
    return {
      fds: libcFds(libc),
      admission,
      report: (level, message) => this.#log[level](message),
      claimWarning: (now, everyMs) => {
        if (now - warned < everyMs) return false;
        warned = now;
        return true;
      },
    };
  }

  /** Graceful stop: no new connections, in-flight requests finish within graceful_timeout. */
  async drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    this.#admission?.stop();
    // What is still in flight at the deadline is cut off: named first, once, whichever of the
    // worker's servers cuts first.
    let said = false;
    const where = `worker (pid:${process.pid})`;
    const drained = this.#class?.drain(this.#config.graceful_timeout * 1000, () => {
      if (said) return;
      said = true;
      if (this.#board) {
        const table = this.#board.inflight(this.#boot.scoreboard!.slot);
        logCutOff(
          this.#log,
          where,
          table.read(),
          this.#config.graceful_timeout,
          this.#inflight?.overflow(),
          this.#inflight && ((request) => this.#inflight!.cutOffBytes(request)),
          this.#counters,
        );
      }
      // WebSocket sessions are no requests in flight: the hub names them (their access lines
      // come as each one's end is recorded).
      logCutOffSessions(this.#log, where, this.#config.graceful_timeout, this.#websockets);
    });
    // Once the class stopped accepting: new connections are refused rather than left waiting.
    releaseListeners(this.#runtime.libc(), this.#boot.listeners.map((l) => l.fd));
    await drained;
    // The sessions the cut ended: their close handlers and access lines, before the exit.
    await this.#websockets?.settled(SESSION_ENDS_MS);
    await this.exit(ExitCode.OK);
  }

  /** Ends the worker, once: a later call (a drain ending, a second signal) gets the same exit. */
  exit(code: number): Promise<never> {
    return this.#exiting ??= this.#exit(code);
  }

  async #exit(code: number): Promise<never> {
    try {
      this.#log.info(`Worker exiting (pid: ${process.pid})`);
      await this.#stopAccepting();
      // A quick stop (or a crash) drops the sessions still open, each ended as a vanished
      // client's (1006) with its access line, rather than lost with the process.
      if ((this.#websockets?.dropAll() ?? 0) > 0) {
        await this.#websockets!.settled(SESSION_ENDS_MS);
      }
      await this.#class?.stop(this.#namesKilled);
      await this.#hooks?.run("worker_exit", this.#server(), this.#info());
      // As late as can be: those still in flight now are the ones the exit kills.
      if (this.#namesKilled) {
        logQuickStopKilled(this.#log, this.#takeKilled(), this.#counters);
        const unread = this.#inflight?.unread() ?? [];
        logQuickStopUnread(this.#log, `worker (pid:${process.pid})`, unread);
      }
      await this.#log.close();
    } finally {
      // Whatever failed on the way: this exit is the only one, so it must end the process.
      process.exit(code);
    }
  }

  // Before what the exit counts (a quick stop's connections with no request read yet) and the
  // worker_exit hook: a connection accepted after the count would end with the process, neither
  // served nor named. Released, the listeners refuse it (the master closed its copies first).
  // Once: a quick stop's worker_int came before its exit.
  #stopAccepting(): Promise<void> {
    return this.#acceptingStopped ??= this.#stopAcceptingOnce();
  }

  async #stopAcceptingOnce(): Promise<void> {
    const admission = this.#admission;
    if (admission) {
      // Every gate of the worker holds, for good.
      admission.stop();
      // A gate holds on the loop's next turn (AcceptGate.hold); what it accepts until then is
      // the server's, and counted.
      await new Promise((resolve) => setImmediate(resolve));
    }
    // gthread's threads hold theirs on their own loops; the native servers (--reuse-port) are
    // the runtime's, outside the gate.
    await this.#class?.stopAccepting?.();
    releaseListeners(this.#runtime.libc(), this.#boot.listeners.map((l) => l.fd));
  }

  // The requests in flight in this process's table (and those past it) and in the class's own.
  // The table is emptied as it is read: if the exit then outlasts the quick stop, the master's
  // SIGKILL must not name them (and count their 504s) a second time.
  #takeKilled(): KilledRequests[] {
    const own: KilledRequests[] = [];
    if (this.#board) {
      const table = this.#board.inflight(this.#boot.scoreboard!.slot);
      const inflight = table.read();
      table.clear();
      const overflow = this.#inflight?.overflow() ?? [];
      if (inflight.requests.length || inflight.more) {
        own.push({ where: `worker (pid:${process.pid})`, inflight, overflow });
      }
    }
    return [...own, ...this.#class?.inflight?.() ?? []];
  }

  // The WebSocket sessions opened and closed since last counted, into the scoreboard.
  #countSessions(): void {
    if (this.#counters) {
      countWebSockets(this.#counters, this.#log.websocketSessions, this.#sessions);
    }
  }

  // Counted when a request starts.
  #countRequest(): void {
    this.#requests += 1;
    if (this.#requests >= this.#limit) this.#retire();
  }

  // Replacement first: the master starts one and sends SIGTERM once it has booted, so the
  // listeners never lack a worker that accepts (gunicorn's worker leaves first: a boot's gap).
  // (An fd-starved one was said by its class, and drains at once: no replacement is waited for;
  // said even when recycling already, as it stops serving now.)
  #retire(reason: RetireReason = "max_requests"): void {
    if (this.#draining || (this.#retiring && reason === "max_requests")) return;
    this.#retiring = true;
    if (reason === "max_requests") this.#log.info("Autorestarting worker after current request.");
    this.#send({ t: "retiring", reason });
  }

  #send(message: ToMaster): void {
    if (this.#channel) send(this.#channel, message);
  }
}

/**
 * Tells the master why this worker cannot boot (it exits 3), for the master's own line: the
 * worker's may be only on stderr, which a daemon or a supervisor loses. Written at once, so that
 * the exit cannot lose it.
 */
function sendBootFailure(runtime: Runtime, message: string): void {
  try {
    sendNow(runtime.libc().write, CHANNEL_FD, { t: "failed", message });
  } catch {
    // The reason is on stderr all the same.
  }
}

/**
 * The boot the master left in this process's environment; a process started without one, or
 * with one of another appserve version, exits 3 with one line saying why: on stderr, and to a
 * master that started it (a boot was there), on the channel too, for the master's own line.
 */
function readBoot(runtime: Runtime): { boot: WorkerBoot; tls: TlsFiles | null } {
  // Without a boot no master started this process: fd 3 is not its channel.
  const fromMaster = process.env[BOOT_ENV] !== undefined;
  try {
    const boot = takeBoot(process.env);
    // Before anything else reads stdin (the reopen byte, EOF).
    const read = (buffer: Uint8Array, offset: number, length: number) =>
      readSync(0, buffer, offset, length, null);
    return { boot, tls: boot.tls ? takeTls(boot.tls, read) : null };
  } catch (error) {
    const why = error instanceof BootMismatch ? error.message : firstLine(error);
    process.stderr.write(`${why}\n`);
    if (fromMaster) sendBootFailure(runtime, why);
    process.exit(ExitCode.WORKER_BOOT_ERROR);
  }
}

/** Runs this process as a worker until it is told to stop. */
export async function runWorker(options: Omit<WorkerOptions, "tls">): Promise<void> {
  const { boot, tls } = readBoot(options.runtime);
  // After the boot's variables are taken, so that no .env file can stand in for them.
  options.runtime.loadProjectEnv();
  if (boot.check) return await checkApp(boot.config, options.runtime, boot.check);
  const worker = new Worker(boot, { ...options, tls });
  await worker.init();
  await worker.serve();
}
