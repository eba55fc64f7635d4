// As a container's PID 1 the master is the parent of every orphan in the container: a process an
// app started in the background (`sh -c "job &"`) is handed to it when its own parent ends, and
// stays a zombie until PID 1 collects it. gunicorn's reap_workers waits for any child, so its
// master collects them too; the runtime under appserve's master collects only what it started.
// So, as PID 1, the master collects the other children that have ended: those it did not start
// (startedHere) and that were already zombies at its previous look, so that a process the runtime
// started for a hook and collects itself a moment later is left to the runtime.

import { readdirSync, readFileSync } from "node:fs";
import type { Libc } from "../runtime/types.ts";

/** Looks at most this often (the arbiter's loop may turn more often). */
const INTERVAL_MS = 1000;

export class OrphanReaper {
  readonly #libc: Libc;
  readonly #ours: (pid: number) => boolean;
  readonly #self: number;
  #seen = new Set<number>();
  #last = -Infinity;

  constructor(libc: Libc, ours: (pid: number) => boolean, self: number) {
    this.#libc = libc;
    this.#ours = ours;
    this.#self = self;
  }

  /** Collects the ended orphans; how many. */
  reap(now: number): number {
    if (now - this.#last < INTERVAL_MS) return 0;
    this.#last = now;
    const seen = new Set<number>();
    let reaped = 0;
    for (const pid of endedChildren(this.#self)) {
      if (this.#ours(pid)) continue;
      if (this.#seen.has(pid) && this.#libc.reap(pid)) reaped++;
      else seen.add(pid);
    }
    this.#seen = seen;
    return reaped;
  }
}

/** The children of `parent` that have ended and wait to be collected (state Z in /proc). */
export function endedChildren(parent: number): number[] {
  const pids: number[] = [];
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return pids;
  }
  for (const name of names) {
    if (name.charCodeAt(0) > 57) continue; // not a pid
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "latin1");
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ", 2);
    if (fields[0] === "Z" && Number(fields[1]) === parent) pids.push(Number(name));
  }
  return pids;
}
