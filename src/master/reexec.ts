// USR2: start a new master of the program now on disk (possibly upgraded),
// which inherits the listening sockets at their fd numbers; it serves
// alongside this one until the operator stops the old master.

import type { ChildProcess } from "node:child_process";
import { spawnWithFds, type SpawnWithFdsOptions } from "./spawn.ts";
import { encodeReexecFds, REEXEC_FDS_ENV } from "../net/inherited.ts";
import type { Listener } from "../net/listeners.ts";
import type { Runtime } from "../runtime/types.ts";

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
}

export function reexec(options: ReexecOptions): ChildProcess {
  const { runtime, listeners } = options;
  const command = runtime.masterCommand(options.argv);
  const spawnOptions: SpawnWithFdsOptions = {
    stdio: ["ignore", "inherit", "inherit"],
    env: options.env,
    cwd: options.cwd,
  };
  return spawnWithFds(runtime, command, listeners.map((l) => l.fd), spawnOptions, (childFds) => ({
    [REEXEC_FDS_ENV]: encodeReexecFds(listeners.map((l, i) => ({ ...l, fd: childFds[i] }))),
    [PARENT_ENV]: String(process.pid),
  }));
}
