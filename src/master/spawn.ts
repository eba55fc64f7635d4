// Starts one worker process of this same program with the listening sockets
// at fds 4.., its channel at fd 3 and the resolved configuration in its env.

import { type ChildProcess, spawn } from "node:child_process";
import type { WorkerBoot } from "../ipc/messages.ts";
import type { Runtime } from "../runtime/types.ts";

export const ROLE_ENV = "APPSERVE_ROLE";
export const BOOT_ENV = "APPSERVE_WORKER_BOOT";

/** `-e KEY=VALUE` pairs as an object (set in workers only). */
export function rawEnv(pairs: readonly string[]): Record<string, string> {
  return Object.fromEntries(pairs.map((pair) => {
    const eq = pair.indexOf("=");
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  }));
}

export function spawnWorker(
  runtime: Runtime,
  boot: WorkerBoot,
  listenerFds: number[],
  env: Record<string, string>,
): ChildProcess {
  const command = runtime.workerCommand();
  return spawn(command.command, command.args, {
    // stdin: EOF tells the worker its master is gone; fd 3: messages to the master.
    stdio: ["pipe", "inherit", "inherit", "pipe", ...listenerFds],
    env: { ...env, [ROLE_ENV]: "worker", [BOOT_ENV]: JSON.stringify(boot) },
  });
}
