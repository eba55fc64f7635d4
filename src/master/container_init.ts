// A container's init that exits when its child does (`docker run --init`, tini, a shell that runs
// appserve and waits): USR2's new master outlives the old one only while the init stays, and the
// kernel ends the container with its init. A host's init (systemd, any other) stays: not listed.

import { readFileSync } from "node:fs";
import process from "node:process";

/** PID 1 programs, by /proc/1/comm, that exit when their child does. */
const EXITS_WITH_CHILD = new Set([
  "tini",
  "tini-static",
  "docker-init",
  "dumb-init",
  "catatonit",
  "sh",
  "bash",
  "dash",
  "ash",
  "busybox",
]);

/** The name of this process's parent when it is PID 1 and exits with its child, else undefined. */
export function exitingInitParent(): string | undefined {
  if (process.ppid !== 1) return undefined;
  let comm: string;
  try {
    comm = readFileSync("/proc/1/comm", "utf8").trim();
  } catch {
    return undefined;
  }
  return EXITS_WITH_CHILD.has(comm) ? comm : undefined;
}
