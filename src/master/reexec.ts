// USR2: start a new master of the program now on disk (possibly upgraded),
// which inherits the listening sockets at their fd numbers; it serves
// alongside this one until the operator stops the old master.

import type { ChildProcess } from "node:child_process";
import { spawnError, spawnWithFds, type SpawnWithFdsOptions } from "./spawn.ts";
import { AppserveError, osReason } from "../errors.ts";
import { encodeReexecFds, REEXEC_FDS_ENV } from "../net/inherited.ts";
import type { Listener } from "../net/listeners.ts";
import { inheritableDuring } from "../net/inheritable_fd.ts";
import {
  describeMetricsSocket,
  METRICS_ACCEPTS_ENV,
  METRICS_FD_ENV,
} from "../net/metrics_socket.ts";
import type { Runtime, SelfCommand } from "../runtime/types.ts";
import { processEnded } from "./process_ended.ts";
import { exitingInitParent } from "./container_init.ts";

/** How both container refusals of USR2 end: what it would take, and what to do instead. */
const CONTAINER_ENDS = "the new master too; HUP reloads the app and the configuration in place, " +
  "or replace the container";

/** Set in a re-exec'd master: the pid of the master that started it. */
export const PARENT_ENV = "APPSERVE_PARENT_PID";

export interface ReexecOptions {
  runtime: Runtime;
  /** The command-line arguments this master was started with. */
  argv: string[];
  /** The environment this master was started with. */
  env: Record<string, string | undefined>;
  cwd: string;
  listeners: Listener[];
  /**
   * --metrics-bind's listener and its address, handed over too (APPSERVE_METRICS_FD), and the
   * flag the new master sets once it accepts on it (APPSERVE_METRICS_ACCEPTS_FD).
   */
  metrics?(): { fd: number; bind: string; accepts?: number } | undefined;
}

export function reexec(
  options: ReexecOptions,
  command: SelfCommand = options.runtime.masterCommand(options.argv, options.env),
): ChildProcess {
  const { runtime, listeners } = options;
  const spawnOptions: SpawnWithFdsOptions = {
    stdio: ["ignore", "inherit", "inherit"],
    env: options.env,
    cwd: options.cwd,
  };
  const metrics = options.metrics?.();
  const accepts = metrics?.accepts;
  const fds = [
    ...listeners.map((l) => l.fd),
    ...(metrics ? [metrics.fd] : []),
    ...(accepts !== undefined ? [accepts] : []),
  ];
  const describe = (childFds: number[]) => ({
    [REEXEC_FDS_ENV]: encodeReexecFds(listeners.map((l, i) => ({ ...l, fd: childFds[i] }))),
    ...(metrics
      ? { [METRICS_FD_ENV]: describeMetricsSocket(childFds[listeners.length], metrics.bind) }
      : {}),
    ...(accepts !== undefined ? { [METRICS_ACCEPTS_ENV]: String(childFds.at(-1)) } : {}),
    [PARENT_ENV]: String(process.pid),
  });
  const libc = runtime.libc();
  const spawnChild = () => spawnWithFds(runtime, command, fds, spawnOptions, describe);
  return inheritableDuring(libc, metrics?.fd, () => inheritableDuring(libc, accepts, spawnChild));
}

/**
 * The master's side of USR2, as gunicorn keeps it: one new master at a time, none while
 * the master that started this one lives, and promotion once that one is gone.
 */
export class Reexec {
  #child: ChildProcess | undefined;
  #parentPid: number | undefined;

  /** `parentPid`: set when this master was started by another one's USR2. */
  constructor(parentPid?: number) {
    this.#parentPid = parentPid;
  }

  /** Why a USR2 is ignored right now, or undefined when a new master may start. */
  refusal(): string | undefined {
    if (this.running) return "USR2 signal ignored. Child exists.";
    if (this.parentRuns) return "USR2 signal ignored. Parent exists.";
    // The kernel ends a PID namespace with its init: the old master's exit would take the new one.
    if (process.pid === 1) {
      return "USR2 signal ignored: this master is PID 1 (a container's init), and when it exits " +
        `every process in the container ends, ${CONTAINER_ENDS}`;
    }
    // An init that exits with this master (`docker run --init`, a shell) ends the new one too.
    const init = exitingInitParent();
    if (init) {
      return `USR2 signal ignored: this master's parent is PID 1, ${init} (a container's init), ` +
        "which exits when this master does, and every process in the container ends with it, " +
        CONTAINER_ENDS;
    }
    return undefined;
  }

  /**
   * Starts the new master; returns its pid. Throws an AppserveError, one line, when the
   * program cannot be started (its file gone mid-deploy, not executable): no new master
   * then, so the next USR2 may try again.
   */
  async start(options: ReexecOptions): Promise<number> {
    const command = options.runtime.masterCommand(options.argv, options.env);
    const cannot = (error: unknown) =>
      new AppserveError(
        `Cannot start a new master from ${command.command}: ${osReason(error)}; ` +
          "this master serves on",
        1,
      );
    let child: ChildProcess;
    try {
      child = reexec(options, command);
    } catch (error) {
      throw cannot(error);
    }
    const failure = spawnError(child);
    if (child.pid === undefined) throw cannot(await failure);
    this.#child = child;
    return child.pid;
  }

  /** A new master started here still runs (it holds the listeners too). */
  get running(): boolean {
    // A new master killed by a signal has a signalCode and no exitCode. One that has ended but
    // whose exit the runtime has not told yet runs no more either: a stop handled in between
    // would take the listeners for handed over, and leave the unix socket's file behind.
    return this.#child !== undefined && this.#child.exitCode === null &&
      this.#child.signalCode === null && !processEnded(this.#child.pid!);
  }

  /** The pid of the new master started here while it runs. */
  get childPid(): number | undefined {
    return this.running ? this.#child!.pid : undefined;
  }

  /** True once, when the new master started here has exited (a rollback, or it failed). */
  childGone(): boolean {
    if (this.#child === undefined || this.running) return false;
    this.#child = undefined;
    return true;
  }

  /** Started by another master's USR2 and not promoted yet: its title keeps the ".2". */
  get unpromoted(): boolean {
    return this.#parentPid !== undefined;
  }

  /**
   * The master that started this one still runs. One that exited is gone even while its own
   * parent leaves it a zombie (a script that never waits): gunicorn's child tells by getppid().
   */
  get parentRuns(): boolean {
    return this.#parentPid !== undefined && !processEnded(this.#parentPid);
  }

  /** True once, when the master that started this one has gone: this one takes over. */
  promoted(): boolean {
    if (!this.#parentPid || this.parentRuns) return false;
    this.#parentPid = undefined;
    return true;
  }
}
