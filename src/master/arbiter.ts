// The master's supervision loop, read as a paragraph (gunicorn's Arbiter.run):
// wait for an event → dispatch signals → reap exited workers → keep the worker
// count right. The master never imports application code.

import type { Readable } from "node:stream";
import type { Config } from "../config/settings.ts";
import { HaltServer } from "../errors.ts";
import { ExitCode } from "../cli/exit_codes.ts";
import { receive } from "../ipc/channel.ts";
import type { WorkerBoot } from "../ipc/messages.ts";
import type { Logger } from "../log/logger.ts";
import { formatAddress } from "../net/bind.ts";
import { closeListeners, type Listener } from "../net/listeners.ts";
import type { Runtime } from "../runtime/types.ts";
import { EventQueue } from "./event_queue.ts";
import { installSignals, MASTER_SIGNALS, type MasterSignal, shortName } from "./signals.ts";
import { rawEnv, spawnWorker } from "./spawn.ts";
import { WorkerHandle } from "./worker_handle.ts";

type Event =
  | { kind: "signal"; signal: MasterSignal }
  | { kind: "exit"; worker: WorkerHandle; code: number | null; signal: string | null };

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
}

/** Worker deaths before boot in a row that mean the worker cannot boot at all. */
const MAX_BOOT_FAILURES = 3;
const TICK_MS = 1000;

export class Arbiter {
  #ctx: ArbiterContext;
  #workers = new Map<number, WorkerHandle>();
  #events = new EventQueue<Event>();
  #numWorkers: number;
  #age = 0;
  #bootFailures = 0;

  constructor(ctx: ArbiterContext) {
    this.#ctx = ctx;
    this.#numWorkers = ctx.config.workers;
  }

  /** Runs until stopped; returns the master's exit code. */
  async run(): Promise<number> {
    const { log, listeners, config } = this.#ctx;
    const uninstall = installSignals((signal) => this.#events.push({ kind: "signal", signal }));
    const shown = [
      ...listeners.map((l) => formatAddress(l.address)),
      ...this.#ctx.reusePort.map((a) => formatAddress({ kind: "tcp", ...a })),
    ];
    log.info(`Listening at: ${shown.join(",")} (${process.pid})`);
    log.info(`Using worker: ${config.worker_class === "async" ? "async" : `async (alias ${config.worker_class})`}`);
    let code: number = ExitCode.OK;
    try {
      this.#manageWorkers();
      for (;;) {
        await this.#events.wait(TICK_MS);
        this.#dispatch();
        this.#manageWorkers();
      }
    } catch (stop) {
      if (stop instanceof HaltServer) {
        code = stop.exitCode;
        await this.#stop(true);
        log.info("Shutting down: Master");
        log.error(`Reason: ${stop.message}`);
      } else if (stop instanceof StopServer) {
        await this.#stop(stop.graceful);
        log.info("Shutting down: Master");
      } else {
        log.exception("Unhandled exception in main loop", stop);
        await this.#stop(false);
        code = 255;
      }
    } finally {
      uninstall();
    }
    return code;
  }

  #dispatch(): void {
    for (const event of this.#events.drain()) {
      if (event.kind === "exit") this.#reap(event.worker, event.code, event.signal);
      else this.#handleSignal(event.signal);
    }
  }

  #handleSignal(signal: MasterSignal): void {
    this.#ctx.log.info(`Handling signal: ${shortName(signal)}`);
    switch (MASTER_SIGNALS[signal]) {
      case "terminate":
        throw new StopServer(true);
      case "interrupt":
      case "quit":
        throw new StopServer(false);
      case "scaleUp":
        this.#numWorkers += 1;
        break;
      case "scaleDown":
        this.#numWorkers = Math.max(1, this.#numWorkers - 1);
        break;
      case "reload":
        this.#ctx.log.info("Hang up: Master");
        // Fresh workers first, then the old ones retire gracefully in manageWorkers().
        for (let i = 0; i < this.#numWorkers; i++) this.#spawn();
        break;
      default:
        this.#ctx.log.warning(`Signal ${shortName(signal)} is not supported yet; ignored`);
    }
  }

  // Records a worker's exit; boot failures halt the server instead of looping.
  #reap(worker: WorkerHandle, code: number | null, signal: string | null): void {
    const { log } = this.#ctx;
    this.#workers.delete(worker.pid);
    if (signal === "SIGKILL") log.error(`Worker (pid:${worker.pid}) was sent SIGKILL! Perhaps out of memory?`);
    else if (signal === "SIGTERM") log.info(`Worker (pid:${worker.pid}) was sent SIGTERM!`);
    else if (signal) log.warning(`Worker (pid:${worker.pid}) was sent ${signal}!`);
    else if (code) log.error(`Worker (pid:${worker.pid}) exited with code ${code}.`);
    if (code === ExitCode.WORKER_BOOT_ERROR) throw new HaltServer("Worker failed to boot.", code);
    if (code === ExitCode.APP_LOAD_ERROR) throw new HaltServer("App failed to load.", code);
    if (!worker.booted && !worker.retiring) {
      this.#bootFailures += 1;
      if (this.#bootFailures >= MAX_BOOT_FAILURES) {
        throw new HaltServer("Worker failed to boot.", ExitCode.WORKER_BOOT_ERROR);
      }
    }
  }

  // Spawns the missing workers and retires the oldest surplus ones.
  #manageWorkers(): void {
    const active = [...this.#workers.values()].filter((w) => !w.retiring);
    for (let i = active.length; i < this.#numWorkers; i++) this.#spawn();
    const surplus = active.length - this.#numWorkers;
    if (surplus > 0) {
      active.sort((a, b) => a.age - b.age).slice(0, surplus).forEach((w) => w.stop(true));
    }
  }

  #spawn(): void {
    const { config, runtime, listeners, reusePort } = this.#ctx;
    this.#age += 1;
    const boot: WorkerBoot = {
      config: config as unknown as Record<string, unknown>,
      listeners: listeners.map((l, i) => ({ fd: 4 + i, unix: l.address.kind === "unix" })),
      reusePort,
      age: this.#age,
    };
    const env = { ...process.env, ...rawEnv(config.raw_env) } as Record<string, string>;
    const child = spawnWorker(runtime, boot, listeners.map((l) => l.fd), env);
    if (child.pid === undefined) throw new HaltServer("Cannot start a worker process.", 1);
    const worker = new WorkerHandle(child, child.pid, this.#age);
    this.#workers.set(worker.pid, worker);
    receive(child.stdio[3] as Readable, (message) => {
      worker.lastBeat = performance.now();
      if (message.t === "ready") {
        worker.booted = true;
        this.#bootFailures = 0;
      }
    });
    child.stdin!.on("error", () => {});
    child.on("exit", (code, signal) => this.#events.push({ kind: "exit", worker, code, signal }));
  }

  // Stops every worker: polite signal, then SIGKILL after graceful_timeout.
  async #stop(graceful: boolean): Promise<void> {
    const { config, runtime, listeners } = this.#ctx;
    closeListeners(runtime.libc(), listeners);
    for (const worker of this.#workers.values()) worker.stop(graceful);
    const deadline = performance.now() + (graceful ? config.graceful_timeout * 1000 : 2000);
    while (this.#workers.size && performance.now() < deadline) {
      await this.#events.wait(100);
      for (const event of this.#events.drain()) {
        if (event.kind === "exit") this.#workers.delete(event.worker.pid);
      }
    }
    for (const worker of this.#workers.values()) worker.kill();
    while (this.#workers.size) {
      await this.#events.wait(100);
      for (const event of this.#events.drain()) {
        if (event.kind === "exit") this.#workers.delete(event.worker.pid);
      }
    }
  }
}
