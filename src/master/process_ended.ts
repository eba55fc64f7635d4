// Whether a child has ended before the runtime says so: its exit event comes on a later turn of
// the event loop (later still on a loaded box), while a signal handled meanwhile must already know
// that the child holds nothing any more (a zombie's descriptors are closed).

import { readFileSync } from "node:fs";
import { isAlive } from "./pidfile.ts";

/** True when `pid` is a zombie (state Z in /proc) or gone; false while it runs. */
export function processEnded(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return !isAlive(pid);
  }
  // "pid (comm) state ...": comm may hold spaces and parentheses.
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
}
