// The master's supervision loop, read as a paragraph (gunicorn's Arbiter.run):
// wait for an event → dispatch signals and worker exits → murder stuck
// workers → keep the worker count right. The master never imports app code.

import type { Readable } from "node:stream";
import type { Config } from "../config/settings.ts";
import { AppserveError, HaltServer } from "../errors.ts";
import type { HookRunner, ServerInfo, WorkerInfo } from "../hooks.ts";
import { ExitCode } from "../exit_codes.ts";
import type { ToMaster } from "../ipc/messages.ts";
import type { Logger } from "../log/logger.ts";
import { captureOutput } from "../log/capture_output.ts";
import { formatAddress } from "../net/bind.ts";
import { tlsEnabled } from "../tls/tls_files.ts";
import { closeListeners, type Listener } from "../net/listeners.ts";
import type { Runtime } from "../runtime/types.ts";
import { EventQueue } from "./event_queue.ts";
import type { Pidfile } from "./pidfile.ts";
import { Reexec } from "./reexec.ts";
import { watchForReload } from "./reloader.ts";
import { installSignals, MASTER_SIGNALS, type MasterSignal, shortName } from "./signals.ts";
import { rawEnv, spawnWorker } from "./spawn.ts";
import { StartUp } from "./start_up.ts";
import { logInflightAccess, timeoutLines } from "../ipc/inflight_report.ts";
import { workerClassLabel } from "../worker/registry.ts";
import { WorkerHandle } from "./worker_handle.ts";
import { WorkerSlots } from "./worker_slots.ts";
import type { SystemdNotify } from "./systemd_notify.ts";
import type { ControlReply, ControlRequest, WorkerStatus } from "../ipc/control_protocol.ts";
import { readTotals } from "../ipc/request_metrics.ts";
import type { WorkerLaunch } from "./worker_launch.ts";
import { describeWorkerRuntime } from "./worker_runtime.ts";
import { fdShortage } from "./fd_budget.ts";
import { fdLimit } from "../net/fd_usage.ts";
import { healthy, MetricsBook } from "./metrics_book.ts";
import { limitTooLow, overLimit, recycleLine, residentBytes } from "./worker_memory.ts";

type Event =
  | { kind: "signal"; signal: MasterSignal }
  | { kind: "changed"; file: string }
  | { kind: "exit"; worker: WorkerHandle; code: number | null; signal: string | null }
  | { kind: "message"; worker: WorkerHandle; message: ToMaster }
  | { kind: "control"; request: ControlRequest; reply: (reply: ControlReply) => void };

/** Stops the loop; `graceful` picks SIGTERM or SIGQUIT for the workers. */
class StopServer {
  constructor(readonly graceful: boolean) {}
}

export interface ArbiterContext {
  config: Config;
  log: Logger;
  runtime: Runtime;
  listeners: Listener[];
  /** TCP addresses workers bind themselves (reuse-port mode). */
  reusePort: { host: string; port: number }[];
  /**
   * Re-resolves the configuration for HUP, and how workers start under it; throws an
   * AppserveError when it is broken.
   */
  reloadConfig(): Promise<{ config: Config; launch: WorkerLaunch }>;
  /** How workers start: their runtime and command line. */
  launch: WorkerLaunch;
  /** How this master was started, for USR2. */
  argv: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  pidfile?: Pidfile;
  /** Set when this master was started by another one's USR2. */
  parentPid?: number;
  /** Listeners came from systemd: never remove their socket files. */
  systemd: boolean;
  hooks: HookRunner;
  /** The app module's file, watched with --reload. */
  appFile: string;
  /** Called once, when the first workers have all booted (a waiting `-D` then returns). */
  onReady?: () => void;
  /**
   * The access log as a worker of `config` writes it (its logger class and file), for the
   * lines of requests a worker killed for --timeout never wrote. Closed after use.
   */
  openAccessLog?: (config: Config) => Promise<Logger>;
  /** Called when this master, started by USR2, became the master of record. */
  onPromoted?: () => void;
  /** systemd's notify socket (Type=notify), when NOTIFY_SOCKET named one. */
  notify?: SystemdNotify;
}

/** Importing an app (TypeScript compile included) may take longer than a short --timeout. */
const MIN_BOOT_TIMEOUT_MS = 60_000;
const TICK_MS = 1000;
/** A quick stop (INT, QUIT) gives workers this long after SIGQUIT before SIGKILL. */
const QUICK_STOP_MS = 2000;
/** Workers' memory is read from /proc at most this often (--max-worker-memory). */
const MEMORY_CHECK_MS = 1000;

export class Arbiter {
  #ctx: ArbiterContext;
  #workers = new Map<number, WorkerHandle>();
  #events = new EventQueue<Event>();
  #numWorkers: number;
  #age = 0;
  #generation = 0;
  /** Highest generation ever started: a rolled-back number is never reused. */
  #lastGeneration = 0;
  #memoryCheckedAt = 0;
  /** Restarts and the counters of workers gone, for --metrics-bind. */
  readonly #book = new MetricsBook();
  /** The configuration before a HUP, kept until the new generation has booted. */
  #previous: { config: Config; launch: WorkerLaunch; generation: number } | undefined;
  readonly #usr2: Reexec;
  readonly #startUp: StartUp;
  readonly #slots: WorkerSlots | undefined;
  /** Why the master halted, with what the worker said, once it has. */
  haltReason: HaltServer | undefined;

  constructor(ctx: ArbiterContext) {
    this.#ctx = ctx;
    this.#numWorkers = ctx.config.workers;
    this.#slots = WorkerSlots.open(ctx.runtime.libc());
    this.#startUp = new StartUp(() => {
      // A USR2 child takes over as the service's main process once it serves.
      const mainPid = ctx.parentPid ? `MAINPID=${process.pid}\n` : "";
      ctx.notify?.send(`${mainPid}READY=1\nSTATUS=${this.#statusLine()}`);
      ctx.onReady?.();
    });
    this.#usr2 = new Reexec(ctx.parentPid);
  }

  /** Runs until stopped; returns the master's exit code. */
  async run(): Promise<number> {
    const { log } = this.#ctx;
    const uninstall = installSignals((signal) => this.#events.push({ kind: "signal", signal }));
    const unwatch = this.#ctx.config.reload
      ? watchForReload(
        this.#ctx.appFile,
        this.#ctx.config.reload_extra_files,
        (file) => this.#events.push({ kind: "changed", file }),
      )
      : () => {};
    if (this.#ctx.config.reload) log.warning("Reloader is on. Use in development only!");
    log.info(`Listening at: ${this.#addresses()} (${process.pid})`);
    log.info(`Using worker: ${workerClassLabel(this.#ctx.config)}`);
    this.#logLaunch();
    const shortage = fdShortage(this.#ctx.config, fdLimit());
    if (shortage) log.warning(shortage);
    let code: number = ExitCode.OK;
    try {
      await this.#ctx.hooks.run("when_ready", this.#server());
      await this.#manageWorkers();
      for (;;) {
        await this.#events.wait(TICK_MS);
        this.#ctx.notify?.watchdog(performance.now());
        this.#maybePromote();
        await this.#dispatch();
        this.#murderStuckWorkers();
        this.#recycleBloatedWorkers();
        await this.#manageWorkers();
      }
    } catch (stop) {
      code = await this.#halt(stop);
    } finally {
      uninstall();
      unwatch();
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
      log.info("Shutting down: Master");
      return ExitCode.OK;
    }
    if (stop instanceof HaltServer) {
      this.haltReason = stop;
      await this.#stop(true);
      log.info("Shutting down: Master");
      log.error(`Reason: ${stop.message}`);
      return stop.exitCode;
    }
    log.exception("Unhandled exception in main loop", stop);
    await this.#stop(false);
    return 255;
  }

  #addresses(): string {
    const scheme = tlsEnabled(this.#ctx.config) ? "https" : "http";
    return [
      ...this.#ctx.listeners.map((l) => formatAddress(l.address, scheme)),
      ...this.#ctx.reusePort.map((a) => formatAddress({ kind: "tcp", ...a }, scheme)),
    ].join(",");
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
      this.#checkMemoryLimit(worker);
      const booted = [...this.#workers.values()].filter((w) => w.booted).length;
      this.#startUp.booted(booted, this.#numWorkers);
    } else if (message.t === "retiring") {
      // Max-requests recycling: the replacement starts while this one drains.
      worker.retiring = true;
      worker.retiredFor = "max_requests";
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
      case "scaleUp":
        return await this.#setNumWorkers(this.#numWorkers + 1);
      case "scaleDown":
        return await this.#setNumWorkers(Math.max(1, this.#numWorkers - 1));
      case "reload":
        return await this.#reload("Hang up: Master");
      case "reopenLogs":
        return this.#reopenLogs();
      case "reexec":
        return this.#reexec();
      case "winch":
        if (this.#ctx.config.daemon) {
          log.info("graceful stop of workers");
          await this.#setNumWorkers(0);
        } else {
          log.debug("SIGWINCH ignored. Not daemonized");
        }
        return;
    }
  }

  #reopenLogs(): void {
    const { log } = this.#ctx;
    captureOutput(this.#ctx.runtime.libc(), this.#ctx.config, "master", log);
    log.reopen().catch((error) => log.error(`Cannot reopen logs: ${(error as Error).message}`));
    this.#workers.forEach((w) => w.signal("SIGUSR1"));
  }

  /** A request from the control socket (`appserve ctl`): answered from the loop. */
  control(request: ControlRequest, reply: (reply: ControlReply) => void): void {
    this.#events.push({ kind: "control", request, reply });
  }

  // Each verb does what its signal does (HUP, TTIN, TTOU, USR1, TERM/QUIT), plus status and scale.
  async #onControl(request: ControlRequest, reply: (reply: ControlReply) => void): Promise<void> {
    const n = this.#numWorkers;
    this.#ctx.log.info(
      `Control: ${request.verb}${request.verb === "scale" ? ` ${request.workers}` : ""}`,
    );
    switch (request.verb) {
      case "status":
        return reply({ ok: true, master: process.pid, configured: n, workers: this.#status() });
      case "reload":
        reply({ ok: true, message: "Reloading" });
        return await this.#reload("Reload requested by appserve ctl");
      case "scale":
      case "add":
      case "remove": {
        const count = request.verb === "scale"
          ? request.workers
          : request.verb === "add"
          ? n + 1
          : Math.max(1, n - 1);
        reply({ ok: true, message: `Workers: ${n} -> ${count}`, configured: count });
        return await this.#setNumWorkers(count);
      }
      case "reopen-logs":
        this.#reopenLogs();
        return reply({ ok: true, message: "Reopened the logs" });
      case "stop":
        reply({ ok: true, message: request.quick ? "Stopping quickly" : "Stopping" });
        throw new StopServer(!request.quick);
    }
  }

  #status(): WorkerStatus[] {
    const now = performance.now();
    return [...this.#workers.values()].map((w) => {
      const counters = this.#slots?.counters(w.slot);
      const table = this.#slots?.inflight(w.slot);
      return {
        pid: w.pid,
        age: Math.round((now - w.startedAt) / 100) / 10,
        requests: counters ? readTotals(counters).count : 0,
        inFlight: table ? table.requests.length + table.more : 0,
        rss: residentBytes(w.pid) ?? null,
        state: w.retiring ? "retiring" : w.booted ? "serving" : "booting",
      };
    });
  }

  // HUP: new configuration, a fresh generation of workers; the old generation
  // retires once the new one has booted, and stays if the new one cannot boot.
  async #reload(why: string): Promise<void> {
    const { log, notify } = this.#ctx;
    log.info(why);
    // No MONOTONIC_USEC: neither runtime reads CLOCK_MONOTONIC (their clocks start with the
    // process), and Type=notify does not need it (Type=notify-reload would).
    notify?.send("RELOADING=1");
    let next: Config;
    let launch: WorkerLaunch;
    try {
      ({ config: next, launch } = await this.#ctx.reloadConfig());
    } catch (error) {
      if (!(error instanceof AppserveError)) throw error;
      log.error(`Reload failed, keeping the running workers: ${error.message}`);
      notify?.send("READY=1");
      return;
    }
    const { config, launch: current } = this.#ctx;
    this.#previous ??= { config, launch: current, generation: this.#generation };
    this.#ctx.config = next;
    this.#ctx.launch = launch;
    this.#logLaunch(current);
    this.#generation = ++this.#lastGeneration;
    await this.#ctx.hooks.run("on_reload", this.#server());
    await this.#setNumWorkers(next.workers);
  }

  // The workers' runtime at start, and again after a HUP that changed it.
  #logLaunch(before?: WorkerLaunch): void {
    const { log, launch } = this.#ctx;
    const label = describeWorkerRuntime(launch.runtime);
    if (!before || label !== describeWorkerRuntime(before.runtime)) {
      log.info(`Using runtime: ${label}`);
    }
    launch.info.forEach((line) => log.info(line));
    launch.warnings.forEach((line) => log.warning(line));
  }

  async #reexec(): Promise<void> {
    const refusal = this.#usr2.refusal();
    if (refusal) return this.#ctx.log.warning(refusal);
    await this.#ctx.hooks.run("pre_exec", this.#server());
    this.#ctx.log.info(`Started new master with pid: ${this.#usr2.start(this.#ctx)}`);
  }

  // A USR2 child becomes the master of record once its parent is gone.
  #maybePromote(): void {
    if (!this.#usr2.promoted()) return;
    this.#ctx.log.info("Master has been promoted.");
    this.#ctx.pidfile?.rename(this.#ctx.pidfile.path.replace(/\.2$/, ""));
    this.#ctx.onPromoted?.();
  }

  // Records a worker's exit; boot failures halt the server instead of looping.
  async #reap(worker: WorkerHandle, code: number | null, signal: string | null): Promise<void> {
    this.#workers.delete(worker.pid);
    if (worker.aborted) await this.#logKilledRequests(worker);
    this.#book.reaped(worker, this.#generation, this.#slots?.counters(worker.slot));
    this.#slots?.free(worker.slot);
    await this.#ctx.hooks.run("child_exit", this.#server(), { pid: worker.pid, age: worker.age });
    const report = worker.exitReport(code, signal);
    if (report) this.#ctx.log[report.level](report.message);
    const reason = await this.#startUp.haltReason(worker, code);
    if (!reason) return;
    // A generation already rolled back or replaced says nothing about the current one.
    if (worker.generation !== this.#generation) return;
    if (this.#previous) return this.#rollback(reason);
    throw reason;
  }

  /** Prometheus's text for --metrics-bind, read from the master's records and the scoreboard. */
  metrics(): string {
    const { runtime, launch, listeners, reusePort, log } = this.#ctx;
    return this.#book.render([...this.#workers.values()], {
      slots: this.#slots,
      runtime: `${runtime.name} ${runtime.version}`,
      workerRuntime: describeWorkerRuntime(launch.runtime).split(" (")[0],
      configured: this.#numWorkers,
      listeners,
      reusePort,
      libc: runtime.libc(),
      dropped: log.dropped,
    });
  }

  /** /healthz: the configured number of current workers are booted and heartbeating. */
  healthy(): boolean {
    return healthy([...this.#workers.values()], this.#numWorkers, this.#ctx.config.timeout);
  }

  // A worker killed for --timeout never wrote the access lines of the requests it had.
  async #logKilledRequests(worker: WorkerHandle): Promise<void> {
    const requests = this.#slots?.inflight(worker.slot)?.requests ?? [];
    const open = this.#ctx.openAccessLog;
    if (!requests.length || !open) return;
    try {
      const access = await open(this.#ctx.config);
      logInflightAccess(access, requests, Date.now());
      await access.close();
    } catch (error) {
      this.#ctx.log.error(`Cannot write the access log: ${(error as Error).message}`);
    }
  }

  // The new generation cannot boot: keep serving with the old one.
  #rollback(reason: HaltServer): void {
    const previous = this.#previous!;
    this.#ctx.log.error(`Reload failed, keeping the running workers: ${reason.message}`);
    for (const worker of this.#workers.values()) {
      if (worker.generation === this.#generation) worker.stop(false);
    }
    this.#ctx.config = previous.config;
    this.#ctx.launch = previous.launch;
    this.#generation = previous.generation;
    this.#numWorkers = previous.config.workers;
    this.#previous = undefined;
    this.#startUp.forgetFailures();
    this.#ctx.notify?.send("READY=1");
  }

  // gunicorn's murder_workers: SIGABRT on the first stale tick, SIGKILL on the next.
  #murderStuckWorkers(): void {
    const timeoutMs = this.#ctx.config.timeout * 1000;
    if (timeoutMs <= 0) return;
    const now = performance.now();
    for (const worker of this.#workers.values()) {
      const allowed = worker.booted ? timeoutMs : Math.max(timeoutMs, MIN_BOOT_TIMEOUT_MS);
      if (now - worker.lastBeat <= allowed) continue;
      if (!worker.aborted) {
        const inflight = this.#slots?.inflight(worker.slot);
        const label = this.#ctx.config.worker_class;
        const head = `WORKER TIMEOUT (pid:${worker.pid})`;
        const where = `worker (pid:${worker.pid})`;
        const lines = timeoutLines(head, where, inflight, Date.now(), `${label} worker`);
        lines.forEach((line) => this.#ctx.log.critical(line));
        worker.aborted = true;
        worker.signal("SIGABRT");
      } else {
        worker.kill();
      }
    }
  }

  // --max-worker-memory: a worker over the limit is replaced, then stopped (as with max_requests,
  // but the master decides: the worker's own view of its memory is not needed).
  #recycleBloatedWorkers(): void {
    const limitMb = this.#ctx.config.max_worker_memory;
    const now = performance.now();
    if (limitMb <= 0 || now - this.#memoryCheckedAt < MEMORY_CHECK_MS) return;
    this.#memoryCheckedAt = now;
    for (const worker of this.#workers.values()) {
      if (!worker.booted || worker.retiring) continue;
      const rss = residentBytes(worker.pid);
      if (!overLimit(rss, limitMb)) continue;
      this.#ctx.log.info(recycleLine(worker.pid, rss, limitMb));
      worker.retiring = true;
      worker.recycling = true;
      worker.retiredFor = "memory";
    }
  }

  // A limit below a freshly booted worker's memory would retire every worker as it boots.
  #checkMemoryLimit(worker: WorkerHandle): void {
    const limitMb = this.#ctx.config.max_worker_memory;
    const rss = limitMb > 0 ? residentBytes(worker.pid) : undefined;
    if (!overLimit(rss, limitMb)) return;
    const reason = new HaltServer(limitTooLow(rss, limitMb), ExitCode.CONFIG_ERROR);
    if (this.#previous && worker.generation === this.#generation) return this.#rollback(reason);
    throw reason;
  }

  // Spawns the missing workers, retires the surplus and, after a reload, the old generation.
  async #manageWorkers(): Promise<void> {
    const current = [...this.#workers.values()].filter((w) =>
      !w.retiring && w.generation === this.#generation
    );
    for (let i = current.length; i < this.#numWorkers; i++) await this.#spawn();
    const surplus = current.length - this.#numWorkers;
    if (surplus > 0) {
      current.sort((a, b) => a.age - b.age).slice(0, surplus).forEach((w) => w.stop(true));
    }
    const booted = current.filter((w) => w.booted).length;
    // Workers over --max-worker-memory stop once their replacements serve.
    for (const worker of this.#workers.values()) {
      if (worker.recycling && booted >= this.#numWorkers) {
        worker.recycling = false;
        worker.stop(true);
      }
    }
    if (this.#previous && booted >= this.#numWorkers) {
      for (const worker of this.#workers.values()) {
        if (worker.generation !== this.#generation && !worker.retiring) worker.stop(true);
      }
      this.#previous = undefined;
      this.#ctx.notify?.send("READY=1");
    }
    this.#ctx.log.workers(this.#workers.size);
    this.#ctx.notify?.status(this.#workers.size);
  }

  async #spawn(): Promise<void> {
    const { config, runtime, listeners, reusePort } = this.#ctx;
    this.#age += 1;
    const unborn: WorkerInfo = { pid: 0, age: this.#age };
    await this.#ctx.hooks.run("pre_fork", this.#server(), unborn);
    const boot = { config, reusePort, age: this.#age };
    const tmp = config.worker_tmp_dir ? { TMPDIR: config.worker_tmp_dir } : {};
    const env = { ...process.env, ...tmp, ...rawEnv(config.raw_env) };
    const slots = this.#slots;
    const slot = slots?.take() ?? -1;
    const scoreboard = slots && slot >= 0 ? { fd: slots.fd, slot } : undefined;
    const command = this.#ctx.launch.command;
    const child = spawnWorker(runtime, command, boot, listeners.map((l) => l.fd), env, scoreboard);
    if (child.pid === undefined) {
      slots?.free(slot);
      throw new HaltServer("Cannot start a worker process.", 1);
    }
    const worker = new WorkerHandle(child, child.pid, this.#age, this.#generation, slot);
    this.#workers.set(worker.pid, worker);
    worker.listen(
      child.stdio[3] as Readable,
      (message) => this.#events.push({ kind: "message", worker, message }),
      (line) => this.#ctx.log.warning(line),
    );
    child.stdin!.on("error", () => {});
    child.on("exit", (code, signal) => this.#events.push({ kind: "exit", worker, code, signal }));
  }

  // Stops every worker: polite signal, then SIGKILL after graceful_timeout.
  async #stop(graceful: boolean): Promise<void> {
    const { config, runtime, listeners, pidfile, systemd } = this.#ctx;
    // Sockets handed to systemd or to a USR2 child stay; their files must not vanish.
    const handedOver = systemd || this.#usr2.running;
    // After a USR2 the service goes on in the new master: this one's stop is not the service's.
    if (!this.#usr2.running) this.#ctx.notify?.send("STOPPING=1");
    closeListeners(
      runtime.libc(),
      handedOver ? listeners.map((l) => ({ ...l, ownsPath: false })) : listeners,
    );
    // A worker still booting has nothing in flight to finish.
    for (const worker of this.#workers.values()) {
      worker.booted ? worker.stop(graceful) : worker.kill();
    }
    const deadline = performance.now() +
      (graceful ? config.graceful_timeout * 1000 : QUICK_STOP_MS);
    while (this.#workers.size && performance.now() < deadline) await this.#reapQuietly();
    for (const worker of this.#workers.values()) worker.kill();
    while (this.#workers.size) await this.#reapQuietly();
    pidfile?.unlink(process.pid);
  }

  // While stopping, exits are expected: record them and tell child_exit, nothing else.
  async #reapQuietly(): Promise<void> {
    await this.#events.wait(100);
    for (const event of this.#events.drain()) {
      if (event.kind === "control") event.reply({ ok: false, error: "The master is stopping" });
      if (event.kind !== "exit") continue;
      this.#workers.delete(event.worker.pid);
      await this.#ctx.hooks.run("child_exit", this.#server(), {
        pid: event.worker.pid,
        age: event.worker.age,
      });
    }
  }
}
