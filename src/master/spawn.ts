// Starts one worker process of this same program: its channel at fd 3, the
// listening sockets inherited at their own fd numbers, the resolved
// configuration in its environment.

import { type ChildProcess, spawn } from "node:child_process";
import { bootEnv, encodeTls } from "../ipc/channel.ts";
import { inheritableDuring } from "../net/inheritable_fd.ts";
import type { WorkerBoot } from "../ipc/messages.ts";
import { type Runtime, type SelfCommand, SIGUSR1 } from "../runtime/types.ts";
import type { TlsFiles } from "../tls/tls_files.ts";

/** `-e KEY=VALUE` pairs as an object (set in workers only). */
export function rawEnv(pairs: readonly string[]): Record<string, string> {
  return Object.fromEntries(pairs.map((pair) => {
    const eq = pair.indexOf("=");
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  }));
}

/**
 * Why `child` could not be started, when it has no pid: a spawn that failed says so in an
 * "error" event on a later tick. The listener also keeps a later "error" from being uncaught.
 */
export function spawnError(child: ChildProcess): Promise<unknown> {
  return new Promise<unknown>((resolve) => child.on("error", resolve));
}

export interface SpawnWithFdsOptions {
  stdio: StdioOptions[];
  env: Record<string, string | undefined>;
  cwd?: string;
}

export type StdioOptions = "pipe" | "inherit" | "ignore";

/**
 * Starts `command` so that it can use the listening sockets `fds`; `describe`
 * receives the numbers the fds have in the child and returns extra env vars.
 */
export function spawnWithFds(
  runtime: Runtime,
  command: SelfCommand,
  fds: number[],
  options: SpawnWithFdsOptions,
  describe: (childFds: number[]) => Record<string, string>,
): ChildProcess {
  const byStdio = runtime.fdPassing === "stdio";
  const childFds = byStdio ? fds.map((_, i) => options.stdio.length + i) : fds;
  const child = spawn(command.command, command.args, {
    ...(command.argv0 ? { argv0: command.argv0 } : {}),
    cwd: options.cwd,
    stdio: byStdio ? [...options.stdio, ...fds] : options.stdio,
    env: { ...options.env, ...command.env, ...describe(childFds) },
  });
  const pid = child.pid;
  if (pid !== undefined) {
    started.add(pid);
    child.once("exit", () => started.delete(pid));
  }
  return child;
}

// The processes started here that the runtime has not yet collected.
const started = new Set<number>();

/** Whether `pid` is a process this master started (a worker, a new master) and still waits for. */
export function startedHere(pid: number): boolean {
  return started.has(pid);
}

/**
 * Starts a worker with the listening sockets `fds`, given one, a slot of the scoreboard, and,
 * given them, the TLS certificate and key (written first on its stdin).
 */
export function spawnWorker(
  runtime: Runtime,
  command: SelfCommand,
  boot: Omit<WorkerBoot, "version" | "listeners" | "scoreboard" | "tls">,
  fds: number[],
  env: Record<string, string | undefined>,
  cwd: string,
  scoreboard?: { fd: number; slot: number },
  tls?: TlsFiles,
): ChildProcess {
  // stdin: EOF tells the worker its master is gone, a byte to reopen its logs; fd 3: messages to
  // the master.
  const stdio: StdioOptions[] = ["pipe", "inherit", "inherit", "pipe"];
  const all = scoreboard ? [...fds, scoreboard.fd] : fds;
  // Started with SIGUSR1 blocked, which it keeps: to Deno that signal means "open a V8
  // inspector on 127.0.0.1:9229" (code execution for anyone on the host), whatever the app
  // listens to. A process started by this thread inherits its mask.
  const unblock = runtime.libc().blockSignal(SIGUSR1);
  const material = tls && encodeTls(tls);
  let child: ChildProcess;
  try {
    // The scoreboard is close-on-exec but for this child.
    child = inheritableDuring(
      runtime.libc(),
      scoreboard?.fd,
      () =>
        spawnWithFds(runtime, command, all, { stdio, env, cwd }, (childFds) =>
          bootEnv({
            ...boot,
            listeners: childFds.slice(0, fds.length).map((fd) => ({ fd })),
            scoreboard: scoreboard && { fd: childFds[fds.length], slot: scoreboard.slot },
            ...(material ? { tls: material.length } : {}),
          })),
    );
  } finally {
    unblock();
  }
  // Buffered by the stream when the pipe is full (a large CA bundle): the worker reads it first.
  if (material && child.pid !== undefined) child.stdin?.write(material);
  return child;
}
