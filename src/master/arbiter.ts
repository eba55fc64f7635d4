// The master's supervision loop, read as a paragraph (gunicorn's Arbiter.run):
// wait for an event → dispatch signals and worker exits → murder stuck
// workers → keep the worker count right. The master never imports app code.
// The workers themselves (spawning, reaping's books, timeouts, memory) are
// worker_set.ts; HUP's generations generations.ts; ctl's verbs control_verbs.ts.

import type { Config } from "../config/settings.ts";
import { AppserveError, HaltServer } from "../errors.ts";
import type { HookRunner, ServerInfo } from "../hooks.ts";
import { ExitCode } from "../exit_codes.ts";
import type { ToMaster } from "../ipc/messages.ts";
import { cutOffLead, requestLines } from "../ipc/inflight_report.ts";
import { captureOutput } from "../log/capture_output.ts";
import { formatAddress } from "../net/bind.ts";
import { tlsEnabled } from "../tls/tls_files.ts";
import { closeListeners } from "../net/listeners.ts";
import type { ArbiterContext } from "./arbiter_context.ts";
import { BacklogMetric } from "./backlog_metric.ts";
import { EventQueue } from "./event_queue.ts";
import { AppWarnings } from "./app_warnings.ts";
import { Generations } from "./generations.ts";
import { type HealthAnswer, liveness, readiness } from "./health.ts";
import { processTitle } from "../process_title.ts";
import { Reexec } from "./reexec.ts";
import { watchForReload } from "./reloader.ts";
import { installSignals, MASTER_SIGNALS, type MasterSignal, shortName } from "./signals.ts";
import { StartUp } from "./start_up.ts";
import { workerClassLabel } from "../worker/registry.ts";
import type { WorkerHandle } from "./worker_handle.ts";
import { WorkerSet } from "./worker_set.ts";
import {
  type ControlReply,
  type ControlRequest,
  controlSocketPath,
  implicitControlSocket,
} from "../ipc/control_protocol.ts";
import { reloadStatsd } from "../log/create_logger.ts";
import { answerControl, answerWhileStopping, oneLess, oneMore } from "./control_verbs.ts";
import { launchWarnings, type WorkerLaunch } from "./worker_launch.ts";
import { describeWorkerRuntime } from "./worker_runtime.ts";
import { fdShortage } from "./fd_budget.ts";
import { migrateNote } from "./reuse_port_migrate.ts";
import { fdLimit } from "../net/fd_usage.ts";
import { bootedOverLimit, limitTooLow, overLimit, residentBytes } from "./worker_memory.ts";
import { OrphanReaper } from "./orphan_reaper.ts";
import { refusedQueueLines } from "./refused_queue.ts";
import { startedHere } from "./spawn.ts";
import { LoadRetry } from "./load_retry.ts";
import { FdStarved } from "./fd_starved.ts";

type Event =
  | { kind: "signal"; signal: MasterSignal }
  | { kind: "changed"; file: string }
  | { kind: "exit"; worker: WorkerHandle; code: number | null; signal: string | null }
  | { kind: "message"; worker: WorkerHandle; message: ToMaster }
  | { kind: "control"; request: ControlRequest; reply: (reply: ControlReply) => void };

export type { ArbiterContext } from "./arbiter_context.ts";

/** Stops the loop; `graceful` picks SIGTERM or SIGQUIT for the workers. */
class StopServer {
  constructor(readonly graceful: boolean) {}
}

const TICK_MS = 1000;
/** A quick stop (INT, QUIT) gives workers this long after SIGQUIT before SIGKILL. */
const QUICK_STOP_MS = 2000;
/**
 * A graceful stop's workers cut off what is left at graceful_timeout themselves, say so and run
 * worker_exit; a SIGKILL at that same moment raced them (measured under load: the WARNING lost).
 * They get this long more; only a stuck worker is still there then.
 */
const STOP_MARGIN_MS = 1000;
/** Workers' memory is read from /proc at most this often (--max-worker-memory). */
const MEMORY_CHECK_MS = 1000;

export class Arbiter {
  #ctx: ArbiterContext;
  readonly #workers: WorkerSet;
  #events = new EventQueue<Event>();
  #numWorkers: number;
  #age = 0;
  readonly #backlog = new BacklogMetric(TICK_MS);
  readonly #generations = new Generations();
  readonly #appWarnings = new AppWarnings();
  /** `ctl reload`s waiting to hear whether the new generation serves (#reload). */
  readonly #reloadsWaiting: ((failure?: string) => void)[] = [];
  readonly #usr2: Reexec;
  readonly #startUp: StartUp;
  /** Why the master halted, with what the worker said, once it has. */
  haltReason: HaltServer | undefined;
  /** The first workers were started: a worker that cannot be started later is retried. */
  #spawned = false;
  /** When a replacement that could not load the app is tried again (#keepServing). */
  readonly #loadRetry = new LoadRetry();
  /** Workers that stopped accepting for want of fds: a run of them is warned about. */
  readonly #fdStarved = new FdStarved();
  /** When the loop (or, stopping, the stop's wait) last turned: /livez. */
  #lastTurn = performance.now();
  /** A stop is under way: /readyz says so while the workers drain. */
  #stopping = false;
  /** The configuration the master started with: its metrics server and control socket's. */
  readonly #started: Config;

  constructor(ctx: ArbiterContext) {
    this.#ctx = ctx;
    this.#started = ctx.config;
    this.#numWorkers = ctx.config.workers;
    this.#workers = new WorkerSet(ctx.runtime);
    this.#startUp = new StartUp(() => {
      // A USR2 child is not the service's main process until promoted (#maybePromote): while
      // its parent runs, a rollback (HUP old, TERM new) must leave systemd the parent.
      ctx.notify?.send(`READY=1\nSTATUS=${this.#statusLine()}`);
      ctx.onReady?.();
    });
    this.#usr2 = new Reexec(ctx.parentPid);
  }

  /** Runs until stopped; returns the master's exit code. */
  async run(): Promise<number> {
    const { log } = this.#ctx;
    const libc = this.#ctx.runtime.libc();
    const uninstall = installSignals(
      (signal) => this.#events.push({ kind: "signal", signal }),
      (signo) => libc.takeSignal(signo),
    );
    // A container's init: the orphans of the apps' processes are this master's to collect.
    const orphans = process.pid === 1 ? new OrphanReaper(libc, startedHere, 1) : undefined;
    const reloader = this.#ctx.config.reload
      ? watchForReload(
        this.#ctx.appFile,
        this.#ctx.config.reload_extra_files,
        (file) => this.#events.push({ kind: "changed", file }),
        (message) => log.warning(message),
        this.#ctx.launch.cwd,
      )
      : undefined;
    if (this.#ctx.config.reload) log.warning("Reloader is on. Use in development only!");
    log.debug("Arbiter booted");
    for (const line of this.#listening()) log.info(`Listening at: ${line} (${process.pid})`);
    log.info(`Using worker: ${workerClassLabel(this.#ctx.config)}`);
    this.#logLaunch();
    const shortage = fdShortage(this.#ctx.config, fdLimit(), this.#ctx.launch.runtime.name);
    if (shortage) log.warning(shortage);
    const migrate = migrateNote(this.#ctx.reusePort.length);
    if (migrate) log.info(migrate);
    let code: number = ExitCode.OK;
    try {
      await this.#ctx.hooks.run("when_ready", this.#server());
      await this.#manageWorkers();
      this.#spawned = true;
      for (;;) {
        await this.#events.wait(TICK_MS);
        this.#lastTurn = performance.now();
        this.#ctx.notify?.watchdog(this.#lastTurn);
        await this.#maybePromote();
        this.#maybeTakeBack();
        orphans?.reap(performance.now());
        await this.#dispatch();
        this.#workers.murderStuck(this.#ctx.config, log);
        // Not during a reload: the new limit is not the old generation's (a rollback keeps it).
        if (!this.#generations.reloading) {
          this.#workers.recycleBloated(this.#ctx.config.max_worker_memory, log, MEMORY_CHECK_MS);
        }
        await this.#manageWorkers();
        // The newest generation's .env files: a HUP may move its folder, a rollback back.
        reloader?.follow(this.#ctx.launch.cwd);
        this.#backlog.maybeSend(this.#ctx, this.#workers);
        // statsd: the workers' total, in one gauge (each worker's own would overwrite another's);
        // not from a USR2 child before its promotion, for the same reason: its parent sends the
        // gauge meanwhile, and a collector saw the two masters' totals alternate.
        const open = this.#usr2.unpromoted ? undefined : this.#workers.websocketsOpen();
        if (open !== undefined) this.#ctx.log.websocketsOpen(open);
      }
    } catch (stop) {
      code = await this.#halt(stop);
      this.#handOver();
    } finally {
      uninstall();
      orphans?.close();
      reloader?.stop();
    }
    await this.#ctx.hooks.run("on_exit", this.#server());
    return code;
  }

  #statusLine(): string {
    const n = this.#workers.size;
    return n === 1 ? "1 worker" : `${n} workers`;
  }

  /** The `server` argument of master hooks. */
  #server(): ServerInfo {
    return {
      pid: process.pid,
      config: this.#ctx.config,
      log: this.#ctx.log,
      numWorkers: this.#numWorkers,
    };
  }

  async #setNumWorkers(count: number): Promise<void> {
    const old = this.#numWorkers;
    this.#numWorkers = count;
    if (count !== old) await this.#ctx.hooks.run("nworkers_changed", this.#server(), count, old);
  }

  async #halt(stop: unknown): Promise<number> {
    const { log } = this.#ctx;
    if (stop instanceof StopServer) {
      await this.#stop(stop.graceful);
      log.info(`Shutting down: ${this.#name()}`);
      return ExitCode.OK;
    }
    if (stop instanceof HaltServer) {
      this.haltReason = stop;
      await this.#stop(true);
      log.info(`Shutting down: ${this.#name()}`);
      // A worker that cannot boot may have had no logger to say why (one that cannot load the
      // app said it in this log): the master's line names it.
      const boot = stop.exitCode === ExitCode.WORKER_BOOT_ERROR;
      log.error(`Reason: ${boot ? stop.oneLine() : stop.message}`);
      return stop.exitCode;
    }
    log.exception("Unhandled exception in main loop", stop);
    await this.#stop(false);
    return 255;
  }

  // How TCP addresses are named, in every line and metric label: https with TLS on.
  #scheme(): "http" | "https" {
    return tlsEnabled(this.#ctx.config) ? "https" : "http";
  }

  // gunicorn's one line for every address; under socket activation one line per socket, with the
  // fd systemd passed it as and its name (FileDescriptorName=), so each is told apart.
  #listening(): string[] {
    const scheme = this.#scheme();
    const addresses = [
      ...this.#ctx.listeners.map((l) => formatAddress(l.address, scheme)),
      ...this.#ctx.reusePort.map((a) => formatAddress({ kind: "tcp", ...a }, scheme)),
    ];
    if (!this.#ctx.listeners.some((l) => l.activated)) return [addresses.join(",")];
    return addresses.map((address, i) => {
      const activated = this.#ctx.listeners[i]?.activated;
      if (!activated) return address;
      const name = activated.name ? `, name ${activated.name}` : "";
      return `${address} (fd ${activated.fd}${name})`;
    });
  }

  // One event at a time: when a handler halts the server, later events (other
  // workers' exits) stay queued for #stop to reap.
  async #dispatch(): Promise<void> {
    for (let event = this.#events.take(); event; event = this.#events.take()) {
      if (event.kind === "signal") await this.#handleSignal(event.signal);
      else if (event.kind === "changed") {
        await this.#reload(`Worker reloading: ${event.file} modified`);
      } else if (event.kind === "exit") await this.#reap(event.worker, event.code, event.signal);
      else if (event.kind === "control") await this.#onControl(event.request, event.reply);
      else this.#onMessage(event.worker, event.message);
    }
  }

  #onMessage(worker: WorkerHandle, message: ToMaster): void {
    worker.lastBeat = performance.now();
    if (message.t === "ready") {
      worker.booted = true;
      this.#loadRetry.reset();
      this.#appWarnings.say(this.#ctx.log, worker.generation, message.warnings);
      this.#checkMemoryLimit(worker);
      const booted = this.#workers.all().filter((w) => w.booted).length;
      this.#startUp.booted(booted, this.#numWorkers);
    } else if (message.t === "retiring") {
      // Max-requests recycling: this one serves on until its replacement has booted (unless the
      // master already stops it). One out of fds (a recycling one too) accepts nothing more and
      // drains already: it does not serve, and is not recycling.
      if (message.reason === "max_requests" && !worker.retiring) {
        worker.retiring = worker.recycling = true;
        worker.retiredFor = "max_requests";
      } else if (message.reason === "fds" && (!worker.retiring || worker.recycling)) {
        worker.retiring = true;
        worker.recycling = false;
        worker.retiredFor = "fds";
        const said = this.#fdStarved.stopped(performance.now(), fdLimit());
        if (said) this.#ctx.log.warning(said);
      }
    }
  }

  async #handleSignal(signal: MasterSignal): Promise<void> {
    const { log } = this.#ctx;
    log.info(`Handling signal: ${shortName(signal)}`);
    switch (MASTER_SIGNALS[signal]) {
      case "terminate":
        throw new StopServer(true);
      case "interrupt":
      case "quit":
        throw new StopServer(false);
      case "scaleUp": {
        const more = oneMore(this.#numWorkers);
        if (typeof more === "string") return log.warning(`TTIN ignored: ${more}`);
        return await this.#setNumWorkers(more);
      }
      case "scaleDown":
        return await this.#setNumWorkers(oneLess(this.#numWorkers));
      case "reload":
        return await this.#reload(`Hang up: ${this.#name()}`);
      case "reopenLogs":
        return this.#reopenLogs();
      case "reexec":
        return this.#reexec();
      case "winch":
        if (this.#ctx.config.daemon) {
          log.info("graceful stop of workers");
          await this.#setNumWorkers(0);
        } else {
          // INFO, not WARNING: a terminal sends WINCH on every resize. Said at all for the one
          // following gunicorn's upgrade (USR2, WINCH, QUIT): QUIT here cuts every connection
          // the old workers keep alive.
          log.info(
            "SIGWINCH ignored: not daemonized; after USR2, stop the old master with TERM " +
              "for a graceful hand-over",
          );
        }
        return;
    }
  }

  #reopenLogs(): void {
    const { log } = this.#ctx;
    captureOutput(this.#ctx.runtime.libc(), this.#ctx.config, "master", log);
    log.reopen().catch((error) => log.error(`Cannot reopen logs: ${(error as Error).message}`));
    for (const worker of this.#workers) worker.reopenLogs();
  }

  /** A signal that came while the master started, before run() installed its handlers. */
  signal(signal: MasterSignal): void {
    this.#events.push({ kind: "signal", signal });
  }

  /** A request from the control socket (`appserve ctl`): answered from the loop. */
  control(request: ControlRequest, reply: (reply: ControlReply) => void): void {
    this.#events.push({ kind: "control", request, reply });
  }

  // Each verb does what its signal does (control_verbs.ts).
  async #onControl(request: ControlRequest, reply: (reply: ControlReply) => void): Promise<void> {
    const scale = request.verb === "scale" ? ` ${request.workers}` : "";
    // A monitor polls status: read-only, it would fill the log at INFO.
    const level = request.verb === "status" ? "debug" : "info";
    this.#ctx.log[level](`Control: ${request.verb}${scale}`);
    await answerControl(request, reply, {
      configured: this.#numWorkers,
      status: () => this.#workers.status(),
      reload: (why, outcome) => this.#reload(why, outcome),
      setWorkers: (count) => this.#setNumWorkers(count),
      reopenLogs: () => this.#reopenLogs(),
      stop: (graceful) => {
        throw new StopServer(graceful);
      },
    });
  }

  // HUP: new configuration, a fresh generation of workers; the old generation
  // retires once the new one has booted, and stays if the new one cannot boot.
  async #reload(why: string, outcome?: (failure?: string) => void): Promise<void> {
    const { log, notify } = this.#ctx;
    log.info(why);
    // No MONOTONIC_USEC: neither runtime reads CLOCK_MONOTONIC (their clocks start with the
    // process), and Type=notify does not need it (Type=notify-reload would).
    notify?.send("RELOADING=1");
    let next: Config;
    let launch: WorkerLaunch;
    let hooks: HookRunner;
    try {
      ({ config: next, launch, hooks } = await this.#ctx.reloadConfig());
    } catch (error) {
      if (!(error instanceof AppserveError)) throw error;
      log.error(`Reload failed, keeping the running workers: ${error.message}`);
      notify?.send("READY=1");
      return outcome?.(error.message);
    }
    // A new app, perhaps the fix: its workers start now, whatever a failed replacement waits.
    this.#loadRetry.reset();
    const before = this.#ctx.launch;
    this.#keptWarnings(next).forEach((line) => log.warning(line));
    // As gunicorn's reload sets its statsd logger up again: the new workers' statsd is theirs.
    await reloadStatsd(log, next);
    // A generation still booting is superseded (the serving one stays): its workers stop, and
    // the newest starts as they leave (#manageWorkers), so HUPs never pile up processes.
    if (this.#generations.reloading) this.#stopGeneration(this.#generations.current);
    // The new hooks from here on, on_reload first, as gunicorn's reload; a rollback restores them.
    this.#generations.begin(this.#ctx, { config: next, launch, hooks });
    // Told when the newest generation serves or fails (one superseded waits for its successor).
    if (outcome) this.#reloadsWaiting.push(outcome);
    // A changed proc_name renames the master too, as gunicorn's reload() does.
    this.#setTitle();
    this.#logLaunch(before);
    await this.#ctx.hooks.run("on_reload", this.#server());
    await this.#setNumWorkers(next.workers);
  }

  // The listeners, metrics_bind and control_socket stay as the master opened them at start
  // (gunicorn rebinds; appserve's workers share sockets a reload keeps, USR2's too): moving them
  // under a running service would take its probes or `appserve ctl` elsewhere (and a USR2 hands
  // them over by the start's address). Said at each HUP that asks for other ones.
  #keptWarnings(next: Config): string[] {
    const { bind: bound, metrics_bind: served, control_socket: opened } = this.#started;
    const lines: string[] = [];
    if (next.bind.join(" ") !== bound.join(" ")) {
      lines.push(
        `bind changed to ${next.bind.join(", ")}: a reload keeps listening at ` +
          `${bound.join(", ")}; restart appserve to listen at the new addresses`,
      );
    }
    if (next.metrics_bind !== served) {
      const kept = served ? `serving metrics at ${served}` : "no metrics server";
      lines.push(
        `metrics_bind changed to ${next.metrics_bind || "none"}: a reload keeps ${kept}; ` +
          "restart appserve to apply it",
      );
    }
    if (next.control_socket !== opened) {
      const path = implicitControlSocket(this.#started)
        ? "its default path"
        : controlSocketPath(this.#started);
      const kept = this.#ctx.controlSocket ? `the control socket at ${path}` : "no control socket";
      const wanted = next.control_socket || "the default";
      lines.push(
        `control_socket changed to ${wanted}: a reload keeps ${kept}; restart appserve to apply it`,
      );
    }
    return lines;
  }

  // The workers' runtime and the configuration's warnings at start, and again after a HUP only
  // what it changed; what preparing the launch did, each time.
  #logLaunch(before?: WorkerLaunch): void {
    const { log, launch } = this.#ctx;
    const label = describeWorkerRuntime(launch.runtime);
    if (!before || label !== describeWorkerRuntime(before.runtime)) {
      log.info(`Using runtime: ${label}`);
    }
    launch.info.forEach((line) => log.info(line));
    launchWarnings(launch, before).forEach((line) => log.warning(line));
  }

  async #reexec(): Promise<void> {
    const refusal = this.#usr2.refusal();
    if (refusal) return this.#ctx.log.warning(refusal);
    await this.#ctx.hooks.run("pre_exec", this.#server());
    try {
      this.#ctx.log.info(`Started new master with pid: ${await this.#usr2.start(this.#ctx)}`);
    } catch (error) {
      if (!(error instanceof AppserveError)) throw error;
      this.#ctx.log.error(error.message);
    }
  }

  // A USR2 child becomes the master of record once its parent is gone.
  async #maybePromote(): Promise<void> {
    if (!this.#usr2.promoted()) return;
    this.#ctx.log.info("Master has been promoted.");
    // Now the service's main process (systemd takes MAINPID= from another pid with
    // NotifyAccess=all only); READY=1 again once its workers serve, should they not yet.
    const ready = this.#startUp.ready ? "\nREADY=1" : "";
    this.#ctx.notify?.send(`MAINPID=${process.pid}${ready}`);
    // The title loses the ".2" a USR2 child starts with, as gunicorn's does.
    this.#setTitle();
    this.#ctx.pidfile?.rename(this.#ctx.pidfile.path.replace(/\.2$/, ""));
    await this.#ctx.onPromoted?.();
  }

  // The USR2 child started here exited (a rollback): this master is the service's main process
  // again, whatever that child told systemd.
  #maybeTakeBack(): void {
    if (!this.#usr2.childGone()) return;
    this.#ctx.notify?.send(`MAINPID=${process.pid}\nREADY=1`);
  }

  // This master exits while its USR2 child runs: the child is the service's main process now,
  // said while this one still is (its own MAINPID= at promotion may come up to a tick later, and
  // systemd stops a Type=notify unit whose main process exits).
  #handOver(): void {
    const child = this.#usr2.childPid;
    if (child !== undefined) this.#ctx.notify?.send(`MAINPID=${child}`);
  }

  // How log lines name this master: gunicorn's "Master.2" until a USR2 child is promoted.
  #name(): string {
    return this.#usr2.unpromoted ? "Master.2" : "Master";
  }

  // What ps shows: the running configuration's name, ".2" while this USR2 child's parent lives.
  #setTitle(): void {
    const suffix = this.#usr2.unpromoted ? ".2" : "";
    this.#ctx.runtime.setProcessTitle(processTitle("master", this.#ctx.config) + suffix);
  }

  // Records a worker's exit; boot failures halt the server instead of looping.
  async #reap(worker: WorkerHandle, code: number | null, signal: string | null): Promise<void> {
    const { openAccessLog: open, log, config } = this.#ctx;
    const died = this.#workers.diedInflight(worker, code, signal);
    const sessions = this.#workers.sessionsOpen(worker);
    await this.#workers.logLostAccess(worker, { open, log, config }, died);
    this.#workers.forget(worker, this.#generations.current);
    await this.#ctx.hooks.run("child_exit", this.#server(), {
      pid: worker.pid,
      age: worker.age,
      log: this.#ctx.log,
    });
    this.#reportExit(worker, code, signal, died, sessions);
    const hint = this.#ctx.launch.refusalHint;
    const reason = await this.#startUp.haltReason(worker, code, signal, hint);
    if (!reason) return;
    // A generation already rolled back or replaced says nothing about the current one.
    if (worker.generation !== this.#generations.current) return;
    if (this.#generations.reloading) return this.#rollback(reason);
    if (this.#keepServing(worker, code, reason)) return;
    throw reason;
  }

  // A replacement (of a recycled worker, or of one that died) cannot load the app, while others
  // still serve: the app file was edited into a broken one. Halting would take the service down
  // for what a HUP to the same file only reports, so it is reported the same way and tried again
  // later (LoadRetry). The same for one that cannot boot (exit 3): its log file, moved away by
  // logrotate without "create" from a folder the user may not write, cannot be opened again
  // (the running workers write on to the old file). At start nothing ever served: halt (exit 4
  // or 3), as when no worker serves now, e.g. the only worker died: a master serving nothing must
  // not look up to its supervisor.
  #keepServing(worker: WorkerHandle, code: number | null, reason: HaltServer): boolean {
    const load = reason.exitCode === ExitCode.APP_LOAD_ERROR;
    // Its own exit 3, not a run of crashes before booting (also halted as "failed to boot").
    const boot = code === ExitCode.WORKER_BOOT_ERROR;
    if (!(load || boot) || !this.#startUp.ready) return false;
    const serving = this.#workers.all().some((w) => w.booted && (!w.retiring || w.recycling));
    if (!serving) return false;
    const wait = this.#loadRetry.failed(performance.now());
    const said = (reason.detail ?? "").split("\n")[0];
    // A worker that cannot boot tells why on its channel; one that could not (killed first)
    // said it on stderr only.
    const why = load
      ? `failed to load the app, keeping the running workers: ${said || reason.message}`
      : said
      ? `failed to boot, keeping the running workers: ${said}`
      : "failed to boot (its error is on stderr), keeping the running workers";
    this.#ctx.log.error(
      `Replacement worker (pid:${worker.pid}) ${why}; trying again in ${wait / 1000} s`,
    );
    return true;
  }

  // The exit line, then the requests it died under: the first place to look for why. The
  // WebSocket sessions it had open died with it (their clients saw 1006): the worker could not
  // say so, its scoreboard counted them (with --metrics-bind, statsd or a control socket).
  #reportExit(
    worker: WorkerHandle,
    code: number | null,
    signal: string | null,
    died: ReturnType<WorkerSet["diedInflight"]>,
    sessions: number,
  ): void {
    const { log } = this.#ctx;
    const report = worker.exitReport(code, signal);
    const dropped = sessions === 1
      ? " 1 WebSocket session dropped."
      : sessions > 1
      ? ` ${sessions} WebSocket sessions dropped.`
      : "";
    if (report) log[report.level](report.message + dropped);
    if (died) {
      requestLines(`In flight on worker (pid:${worker.pid})`, died, Date.now()).forEach((l) =>
        log.error(l)
      );
    }
  }

  /** Prometheus's text for --metrics-bind, read from the master's records and the scoreboard. */
  metrics(): string {
    const { runtime, launch, listeners, reusePort, log } = this.#ctx;
    return this.#workers.metrics({
      runtime: `${runtime.name} ${runtime.version}`,
      workerRuntime: describeWorkerRuntime(launch.runtime).split(" (")[0],
      configured: this.#numWorkers,
      listeners,
      reusePort,
      libc: runtime.libc(),
      scheme: this.#scheme(),
      dropped: log.dropped,
    });
  }

  // The USR2 child started here while it runs, and whether it accepts on the metrics listener.
  #successor(): { pid: number; serves: boolean } | undefined {
    const pid = this.#usr2.childPid;
    if (pid === undefined) return undefined;
    return { pid, serves: this.#ctx.metricsChildAccepts?.() ?? false };
  }

  /** /readyz: the master accepts and at least one worker serves. */
  readiness(): HealthAnswer {
    return readiness({
      workers: this.#workers.all(),
      configured: this.#numWorkers,
      timeout: this.#ctx.config.timeout,
      started: this.#startUp.ready,
      stopping: this.#stopping,
      successor: this.#successor(),
      lastTurn: this.#lastTurn,
    });
  }

  /** /livez: the master's loop turns. */
  liveness(): HealthAnswer {
    return liveness(this.#lastTurn);
  }

  // The new generation cannot boot: keep serving with the old one. Its workers that already
  // serve finish what they took (those still booting exit at once).
  #rollback(reason: HaltServer): void {
    // Named as the start-up names it: the worker's file and error, not only "App failed to load".
    const why = reason.oneLine();
    this.#ctx.log.error(`Reload failed, keeping the running workers: ${why}`);
    this.#stopGeneration(this.#generations.current);
    this.#generations.rollback(this.#ctx);
    void reloadStatsd(this.#ctx.log, this.#ctx.config);
    this.#setTitle();
    this.#numWorkers = this.#ctx.config.workers;
    this.#startUp.forgetFailures();
    this.#ctx.notify?.send("READY=1");
    for (const outcome of this.#reloadsWaiting.splice(0)) outcome(why);
  }

  // Those of a generation that already serve finish what they took; those still booting exit.
  #stopGeneration(generation: number): void {
    for (const worker of this.#workers) {
      if (worker.generation === generation) worker.stop(true);
    }
  }

  // A limit below a freshly booted worker's memory would retire every worker as it boots: it
  // stops the start, fails a reload, but never stops a running server for one replacement.
  #checkMemoryLimit(worker: WorkerHandle): void {
    const limitMb = this.#ctx.config.max_worker_memory;
    const rss = limitMb > 0 ? residentBytes(worker.pid) : undefined;
    if (!overLimit(rss, limitMb)) return;
    const reason = new HaltServer(limitTooLow(rss, limitMb), ExitCode.CONFIG_ERROR);
    if (this.#generations.reloading && worker.generation === this.#generations.current) {
      return this.#rollback(reason);
    }
    if (!this.#startUp.ready) throw reason;
    this.#ctx.log.error(bootedOverLimit(worker.pid, rss, limitMb));
    worker.bootedOverLimit = true;
  }

  // None while a replacement that could not load the app waits to be tried again; then one at a
  // time until one boots: workers started together would all fail, each doubling the wait.
  #retryRoom(room: number): number {
    if (!this.#loadRetry.retrying) return room;
    if (this.#loadRetry.waiting(performance.now())) return 0;
    const booting = this.#workers.all().some((w) => !w.booted && !w.retiring);
    return booting ? 0 : Math.min(room, 1);
  }

  // Spawns the missing workers, retires the surplus and, after a reload, the old generation.
  async #manageWorkers(): Promise<void> {
    const current = this.#workers.all().filter((w) =>
      !w.retiring && w.generation === this.#generations.current
    );
    const room = this.#retryRoom(this.#generations.room(this.#workers.all(), this.#numWorkers));
    for (let i = current.length; i < this.#numWorkers && i - current.length < room; i++) {
      if (!await this.#spawn()) break;
      // A signal or a control request waits for one spawn, not for all of them (`ctl scale 500`
      // on a small box): the next pass spawns the rest, unless it said otherwise. Not at start,
      // where a worker that cannot be spawned halts the start.
      const waiting = this.#events.has((e) => e.kind === "signal" || e.kind === "control");
      if (waiting && this.#spawned) break;
    }
    const surplus = current.length - this.#numWorkers;
    if (surplus > 0) {
      const retired = current.sort((a, b) => a.age - b.age).slice(0, surplus);
      retired.forEach((w) => w.stop(true));
      this.#sayWait(retired, ` on the ${surplus === 1 ? "worker" : "workers"} retired`);
    }
    // After the surplus stopped: a worker stopped just now serves no longer.
    const booted = current.filter((w) => w.booted && !w.retiring).length;
    // Workers recycling (max_requests, --max-worker-memory) stop once their replacements serve.
    for (const worker of this.#workers) {
      if (worker.recycling && booted >= this.#numWorkers) {
        worker.recycling = false;
        worker.stop(true);
      }
    }
    if (this.#generations.reloading && booted >= this.#numWorkers) {
      const old = this.#workers.all().filter((w) =>
        w.generation !== this.#generations.current && !w.retiring
      );
      old.forEach((w) => w.stop(true));
      this.#sayWait(old, " on the old workers");
      this.#generations.settled();
      this.#ctx.notify?.send("READY=1");
      for (const outcome of this.#reloadsWaiting.splice(0)) outcome();
    }
    this.#ctx.log.workers(this.#workers.size);
    this.#ctx.notify?.status(this.#workers.size);
  }

  /**
   * Starts one worker; false when its program cannot be started. At start that halts; later (a
   * deploy replacing the executable) it is said and tried again on the next tick.
   */
  async #spawn(): Promise<boolean> {
    const { config, runtime, listeners, reusePort, launch, log } = this.#ctx;
    const age = ++this.#age;
    await this.#ctx.hooks.run("pre_fork", this.#server(), { pid: 0, age, log });
    try {
      await this.#workers.spawn({
        config,
        runtime,
        launch,
        listeners,
        reusePort,
        age,
        generation: this.#generations.current,
        control: this.#ctx.controlSocket,
        onMessage: (worker, message) => this.#events.push({ kind: "message", worker, message }),
        onExit: (worker, code, signal) => this.#events.push({ kind: "exit", worker, code, signal }),
        warn: (line) => log.warning(line),
      });
      return true;
    } catch (error) {
      if (!(error instanceof AppserveError) || !this.#spawned) {
        throw error instanceof AppserveError ? new HaltServer(error.message, 1) : error;
      }
      log.error(`${error.message}; trying again`);
      return false;
    }
  }

  // Stops every worker: polite signal, then SIGKILL after graceful_timeout (and STOP_MARGIN_MS).
  async #stop(graceful: boolean): Promise<void> {
    this.#stopping = true;
    const { config, runtime, listeners, pidfile, systemd } = this.#ctx;
    // Sockets handed to systemd or to a USR2 child stay; their files must not vanish. Nor do
    // those of the master that started this one, while it serves on them (a rollback, or this
    // new master failing): only a promoted USR2 child takes them over.
    const handedOver = systemd || this.#usr2.running || this.#usr2.parentRuns;
    // After a USR2 the service goes on in the new master: this one's stop is not the service's.
    // Nor is an unpromoted USR2 child's (a rollback's TERM): systemd would stop the service.
    if (!this.#usr2.running && !this.#usr2.unpromoted) this.#ctx.notify?.send("STOPPING=1");
    const child = this.#usr2.childPid;
    if (child !== undefined) void this.#ctx.closeMetrics?.(child);
    // A USR2 child stopping while its parent serves (a rollback): the parent answers the probes
    // on the listener they share, at once, and not this one's "stopping" half the time.
    else if (this.#usr2.parentRuns) void this.#ctx.closeMetrics?.(this.#ctx.parentPid!);
    // A socket handed over keeps its queue for the next process; one closed resets it.
    if (!handedOver) {
      for (const line of refusedQueueLines(runtime.libc(), listeners, this.#scheme())) {
        this.#ctx.log.warning(line);
      }
    }
    closeListeners(
      runtime.libc(),
      handedOver ? listeners.map((l) => ({ ...l, ownsPath: false })) : listeners,
    );
    // Every worker alike, as gunicorn's kill_workers: one not yet counted as booted may serve
    // already (its class accepts before it says "ready"), and one still loading exits at once.
    for (const worker of this.#workers) worker.stop(graceful);
    // Said once, for all: an orchestrator's own grace (docker stop's 10 s) may end it sooner.
    if (graceful) this.#sayWait(this.#workers.all());
    let deadline = performance.now() +
      (graceful ? config.graceful_timeout * 1000 + STOP_MARGIN_MS : QUICK_STOP_MS);
    while (this.#workers.size && performance.now() < deadline) {
      if (!await this.#reapQuietly(graceful)) continue;
      // INT or QUIT while a graceful stop waits: the quick stop, as gunicorn 26 switches.
      graceful = false;
      for (const worker of this.#workers) worker.stop(false);
      deadline = Math.min(deadline, performance.now() + QUICK_STOP_MS);
    }
    for (const worker of this.#workers) this.#killAtDeadline(worker, graceful);
    while (this.#workers.size) await this.#reapQuietly(false);
    // A USR2 child running on gets the file now, not at its promotion a tick later.
    pidfile?.unlink(process.pid, this.#usr2.childPid);
  }

  // Workers just sent a graceful stop: what they still have under way and how long they get.
  #sayWait(workers: WorkerHandle[], which?: string): void {
    const line = this.#workers.waitLine(workers, this.#ctx.config.graceful_timeout, which);
    if (line !== undefined) this.#ctx.log.info(line);
  }

  // A worker that outlived the stop's deadline is named with the requests it never finished.
  #killAtDeadline(worker: WorkerHandle, graceful: boolean): void {
    const grace = this.#ctx.config.graceful_timeout;
    const where = `worker (pid:${worker.pid})`;
    const [head, lead] = graceful
      ? [`did not exit within the graceful timeout (${grace} s)`, cutOffLead(where, grace)]
      : [
        `did not exit within ${QUICK_STOP_MS / 1000} s of the quick stop`,
        `In flight on ${where}`,
      ];
    this.#workers.killAtDeadline(
      worker,
      `Worker (pid:${worker.pid}) ${head}: killed`,
      lead,
      this.#ctx.log,
    );
  }

  /**
   * A signal while a graceful stop waits: true for INT or QUIT, which ask for the quick stop.
   * TERM changes nothing (gunicorn's stop drops it too); said, as the operator may expect more.
   */
  #signalWhileStopping(signal: MasterSignal): boolean {
    const action = MASTER_SIGNALS[signal];
    const name = shortName(signal);
    if (action === "interrupt" || action === "quit") {
      this.#ctx.log.info(`Handling signal: ${name}`);
      this.#ctx.log.info("Quick shutdown requested");
      return true;
    }
    if (action === "terminate") {
      this.#ctx.log.info(
        `Ignoring signal: ${name} (already stopping gracefully; INT or QUIT stops quickly)`,
      );
    }
    return false;
  }

  // While stopping, exits are expected: record them and tell child_exit, and say only those the
  // master did not ask for (killed from outside as it drained: its requests died with it). True
  // when, the stop being graceful, a signal asked for the quick stop.
  async #reapQuietly(graceful: boolean): Promise<boolean> {
    await this.#events.wait(100);
    this.#lastTurn = performance.now();
    let quick = false;
    for (const event of this.#events.drain()) {
      if (event.kind === "control") {
        const asked = answerWhileStopping(event.request, event.reply, graceful && !quick, {
          configured: this.#numWorkers,
          status: () => this.#workers.status(),
        });
        if (event.request.verb === "stop") {
          this.#ctx.log.info(`Control: stop${event.request.quick ? " --quick" : ""}`);
        }
        if (asked) this.#ctx.log.info("Quick shutdown requested");
        quick ||= asked;
      }
      if (event.kind === "signal" && graceful && !quick) {
        quick = this.#signalWhileStopping(event.signal);
      }
      if (event.kind !== "exit") continue;
      // A worker killed at the deadline, its loop stuck, left its waiting access lines.
      const { openAccessLog: open, log, config } = this.#ctx;
      const { worker, code, signal } = event;
      const died = this.#workers.diedInflight(worker, code, signal);
      const sessions = this.#workers.sessionsOpen(worker);
      await this.#workers.logLostAccess(worker, { open, log, config }, died);
      this.#workers.drop(worker);
      await this.#ctx.hooks.run("child_exit", this.#server(), {
        pid: worker.pid,
        age: worker.age,
        log: this.#ctx.log,
      });
      if (worker.diedUnasked(code, signal)) {
        this.#reportExit(worker, code, signal, died, sessions);
      }
    }
    return quick;
  }
}
