// Everything a worker process does, as a written contract: a side-effect-free
// constructor, init() (signals, channel, app), serve(), drain(), exit().
// Runs in the child; never imports master/.

import { Socket } from "node:net";
import process from "node:process";
import { ExitCode } from "../exit_codes.ts";
import type { Config } from "../config/settings.ts";
import { AppLoadError, firstLine } from "../errors.ts";
import { loadApp } from "../app/load_app.ts";
import type { FetchHandler } from "../http/types.ts";
import { send } from "../ipc/channel.ts";
import { CHANNEL_FD, type WorkerBoot, type WorkerMessage } from "../ipc/messages.ts";
import { captureOutput } from "../log/capture_output.ts";
import { createLogger } from "../log/create_logger.ts";
import type { Logger } from "../log/logger.ts";
import { HookRunner, type ServerInfo, withRequestHooks, type WorkerInfo } from "../hooks.ts";
import type { Runtime } from "../runtime/types.ts";
import { processTitle } from "../process_title.ts";
import { libcFds } from "../net/accept_gate.ts";
import { Admission } from "../net/admission.ts";
import type { HttpServerOptions } from "../http/server.ts";
import { accessLogger, serveAsync, type Serving } from "./async.ts";
import { openBalance } from "./balance.ts";
import { limitConcurrency } from "./concurrency.ts";
import { withRequestTimeout } from "./request_timeout.ts";
import { ThreadPool } from "./gthread.ts";
import { workerClass } from "./registry.ts";

/** Beats come at least four times per timeout, and at least once a second. */
export function beatInterval(timeoutSeconds: number): number {
  return timeoutSeconds > 0 ? Math.min(1000, Math.max(50, (timeoutSeconds * 1000) / 4)) : 1000;
}
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/** max_requests + randint(0, max_requests_jitter), or Infinity when recycling is off. */
export function requestLimit(config: Pick<Config, "max_requests" | "max_requests_jitter">): number {
  if (config.max_requests <= 0) return Infinity;
  return config.max_requests + Math.floor(Math.random() * (config.max_requests_jitter + 1));
}

export class Worker {
  readonly #boot: WorkerBoot;
  readonly #config: Config;
  readonly #runtime: Runtime;
  #log!: Logger;
  readonly #limit: number;
  #channel: Socket | undefined;
  #hooks: HookRunner | undefined;
  #servings: Serving[] = [];
  #pool: ThreadPool | undefined;
  #admission: Admission | undefined;
  #requests = 0;
  #retiring = false;
  #draining = false;

  constructor(boot: WorkerBoot, runtime: Runtime) {
    this.#boot = boot;
    this.#config = Object.freeze(boot.config) as unknown as Config;
    this.#runtime = runtime;
    this.#limit = requestLimit(this.#config);
  }

  /**
   * Signals, the master channel and the app; exits 4 when the app cannot load. Returns the
   * app, or undefined under gthread, where the threads hold it.
   */
  async init(): Promise<FetchHandler | undefined> {
    try {
      this.#log = await createLogger(this.#config, "worker", this.#runtime);
    } catch (error) {
      process.stderr.write(`${firstLine(error)}\n`);
      process.exit(ExitCode.WORKER_BOOT_ERROR);
    }
    // Deno's spawn hands a child the stdout/stderr it started with, not the master's fds 1 and 2.
    captureOutput(this.#runtime.libc(), this.#config, "worker", this.#log);
    this.#log.info(`Booting worker with pid: ${process.pid}`);
    this.#runtime.setProcessTitle(processTitle("worker", this.#config));
    try {
      this.#hooks = await HookRunner.load(this.#config.hooks, this.#log);
    } catch (error) {
      this.#log.error((error as Error).message);
      return this.exit(ExitCode.WORKER_BOOT_ERROR);
    }
    await this.#hooks.run("post_fork", this.#server(), this.#info());
    this.#channel = new Socket({ fd: CHANNEL_FD, readable: false, writable: true });
    this.#channel.on("error", () => {});
    // stdin is a pipe from the master: EOF means the master is gone.
    process.stdin.on("end", () => {
      this.#log.info(`Parent changed, shutting down: <Worker ${process.pid}>`);
      this.exit(ExitCode.OK);
    });
    process.stdin.resume();
    process.on("SIGTERM", () => this.drain());
    process.on("SIGINT", () => this.#quit("worker_int", ExitCode.OK));
    process.on("SIGQUIT", () => this.#quit("worker_int", ExitCode.OK));
    // Runs only when the event loop still turns; a stuck worker is SIGKILLed next.
    process.on("SIGABRT", () => this.#quit("worker_abort", 1));
    process.on("SIGWINCH", () => {});
    process.on("SIGUSR1", () => {
      captureOutput(this.#runtime.libc(), this.#config, "worker", this.#log);
      this.#log.reopen().catch((error) =>
        this.#log.error(`Cannot reopen logs: ${firstLine(error)}`)
      );
      this.#pool?.reopen();
    });
    let app: FetchHandler | undefined;
    try {
      app = await this.#loadApp();
    } catch (error) {
      const message = error instanceof AppLoadError
        ? error.message
        : `Cannot load app: ${firstLine(error)}`;
      this.#log.error(message);
      // The master reports it at start-up (to a waiting -D, or when the log is a file).
      this.#send({ t: "failed", message });
      return this.exit(ExitCode.APP_LOAD_ERROR);
    }
    await this.#hooks.run("post_worker_init", this.#info());
    return app && withRequestHooks(app, this.#hooks, this.#info());
  }

  // gthread: the threads import the app, each its own instance; this process never runs it.
  async #loadApp(): Promise<FetchHandler | undefined> {
    if (workerClass(this.#config).name !== "gthread") {
      return await loadApp(this.#config.app, process.cwd());
    }
    this.#pool = await ThreadPool.start({
      runtime: this.#runtime,
      config: this.#config,
      age: this.#boot.age,
      limit: this.#limit,
      log: this.#log,
      onRetire: () => this.#retire(),
      // Answers already given (the 500, the 503s) still go out before the process ends.
      onLost: () => this.drain(),
    });
    // The threads run the app (and its request hooks); this process only hands them connections.
    return undefined;
  }

  #info(): WorkerInfo {
    return { pid: process.pid, age: this.#boot.age };
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

  async #quit(hook: "worker_int" | "worker_abort", code: number): Promise<void> {
    await this.#hooks?.run(hook, this.#info());
    this.exit(code);
  }

  /** Starts serving and the heartbeat; exits 3 when the listeners cannot be served. */
  async serve(app: FetchHandler | undefined): Promise<void> {
    // Inherited listeners must not leak into processes the app starts.
    const libc = this.#runtime.libc();
    for (const { fd } of this.#boot.listeners) libc.fcntl(fd, F_SETFD, FD_CLOEXEC);
    const gate = this.#gate();
    try {
      const pool = this.#pool;
      if (pool) {
        await pool.serve(this.#boot.listeners, gate);
        this.#servings = [{ stop: (ms) => pool.stop(ms) }];
      } else {
        const limited = limitConcurrency(
          withRequestTimeout(app!, this.#config.request_timeout, this.#log),
          workerClass(this.#config).concurrency(this.#config),
        );
        const counted: FetchHandler = (request, info) => {
          this.#countRequest();
          return limited(request, info);
        };
        this.#servings = await serveAsync(counted, this.#boot, {
          config: this.#config,
          log: this.#log,
          runtime: this.#runtime,
          access: accessLogger(this.#config, this.#log),
          gate,
        });
      }
    } catch (error) {
      this.#log.error(`Cannot serve: ${firstLine(error)}`);
      return await this.exit(ExitCode.WORKER_BOOT_ERROR);
    }
    this.#send({ t: "ready" });
    setInterval(() => {
      this.#send({ t: "beat" });
      this.#admission?.beat();
      this.#pool?.checkLiveness();
    }, beatInterval(this.#config.timeout));
  }

  // How the listeners accept: within the class's connection limit, the worker's share next to
  // its siblings (the scoreboard) and the fds it has.
  #gate(): NonNullable<HttpServerOptions["gate"]> {
    const libc = this.#runtime.libc();
    const admission = new Admission(
      workerClass(this.#config).connections(this.#config),
      openBalance(libc, this.#boot.scoreboard, process.pid),
    );
    this.#admission = admission;
    return {
      fds: libcFds(libc),
      admission,
      report: (level, message) => this.#log[level](message),
    };
  }

  /** Graceful stop: no new connections, in-flight requests finish within graceful_timeout. */
  async drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    this.#admission?.stop();
    await Promise.all(this.#servings.map((s) => s.stop(this.#config.graceful_timeout * 1000)));
    await this.exit(ExitCode.OK);
  }

  async exit(code: number): Promise<never> {
    this.#log.info(`Worker exiting (pid: ${process.pid})`);
    this.#pool?.close();
    await this.#hooks?.run("worker_exit", this.#server(), this.#info());
    await this.#log.close();
    process.exit(code);
  }

  // Counted when a request starts, so the last one's response already carries connection: close.
  #countRequest(): void {
    this.#requests += 1;
    if (this.#requests >= this.#limit) this.#retire();
  }

  #retire(): void {
    if (this.#retiring || this.#draining) return;
    this.#retiring = true;
    this.#log.info("Autorestarting worker after current request.");
    this.#send({ t: "retiring" });
    queueMicrotask(() => this.drain());
  }

  #send(message: WorkerMessage): void {
    if (this.#channel) send(this.#channel, message);
  }
}

function readBoot(): WorkerBoot {
  const text = process.env.APPSERVE_WORKER_BOOT;
  // The app must not see appserve's private variables.
  delete process.env.APPSERVE_WORKER_BOOT;
  delete process.env.APPSERVE_ROLE;
  if (!text) throw new Error("APPSERVE_WORKER_BOOT is missing: workers are started by the master");
  return JSON.parse(text) as WorkerBoot;
}

/** Runs this process as a worker until it is told to stop. */
export async function runWorker(runtime: Runtime): Promise<void> {
  const worker = new Worker(readBoot(), runtime);
  await worker.serve(await worker.init());
}
