// As a container's PID 1 the master is the parent of every orphan in the container: a process an
// app started in the background (`sh -c "job &"`) is handed to it when its own parent ends, and
// stays a zombie until PID 1 collects it. gunicorn's reap_workers waits for any child, so its
// master collects them too; the runtime under appserve's master collects only what it started.
// So, as PID 1, the master collects the other children that have ended: those it did not start
// (startedHere) and that were already zombies at an earlier look, GRACE_MS before or more, so
// that a process the runtime started for a hook, which it collects itself once its event loop
// turns, is left to the runtime. The looks come from the arbiter's turns (at most once a second)
// and, so that a burst of orphans does not pile up (a pids-limited container runs out), from
// SIGCHLD: a look soon after each, and another GRACE_MS later while zombies wait.

import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import type { Libc } from "../runtime/types.ts";

/** The arbiter's turns look at most this often. */
const INTERVAL_MS = 1000;
/**
 * How long a zombie stays the runtime's to collect. The looks are separate timer callbacks, so
 * the event loop (where the runtime collects its own children) polled between two of them.
 */
const GRACE_MS = 100;
/** A SIGCHLD's look waits this long, so that a burst of them makes one look. */
const SETTLE_MS = 10;

export class OrphanReaper {
  readonly #libc: Libc;
  readonly #ours: (pid: number) => boolean;
  readonly #self: number;
  /** The zombies seen and not collected: when first seen. */
  #seen = new Map<number, number>();
  #last = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onChild = () => this.#soon(SETTLE_MS);

  constructor(libc: Libc, ours: (pid: number) => boolean, self: number) {
    this.#libc = libc;
    this.#ours = ours;
    this.#self = self;
    process.on("SIGCHLD", this.#onChild);
  }

  /** Collects the ended orphans (at most once a second, from the arbiter's turns); how many. */
  reap(now: number): number {
    if (now - this.#last < INTERVAL_MS) return 0;
    return this.#look(now);
  }

  /** No more looks on SIGCHLD. */
  close(): void {
    process.off("SIGCHLD", this.#onChild);
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #soon(delay: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#look(performance.now());
    }, delay);
    // The master's life is the arbiter's: this look keeps no process alive.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #look(now: number): number {
    this.#last = now;
    const seen = new Map<number, number>();
    let reaped = 0;
    for (const pid of endedChildren(this.#self)) {
      if (this.#ours(pid)) continue;
      const since = this.#seen.get(pid) ?? now;
      if (now - since >= GRACE_MS && this.#libc.reap(pid)) reaped++;
      else seen.set(pid, since);
    }
    this.#seen = seen;
    if (seen.size > 0) this.#soon(GRACE_MS);
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
