// What ps shows, the way setproctitle (gunicorn's) does it, for both runtimes:
// the title is written over the argv area, and when that is shorter than the
// title, on over the environment area that follows it (whose strings are first
// moved to libc's heap with setenv, so getenv and child processes keep working).
// The kernel then reads /proc/PID/cmdline up to the title's NUL. Deno's
// process.title (and Bun's, which changes nothing) stop at the argv area, which
// for `appserve mod` is 13 bytes: "appserve: ma".

import { readFileSync } from "node:fs";
import type { Libc } from "./types.ts";

/** The argv and environment areas of this process (fields 48-51 of /proc/self/stat). */
function areas(): { argStart: number; argEnd: number; envStart: number; envEnd: number } {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const [argStart, argEnd, envStart, envEnd] = [45, 46, 47, 48].map((i) => Number(fields[i]));
  return { argStart, argEnd, envStart, envEnd };
}

// Moved once per process: after that the environment area holds nothing anyone reads.
let environmentMoved = false;

function moveEnvironment(libc: Libc): void {
  if (environmentMoved) return;
  for (const entry of readFileSync("/proc/self/environ", "latin1").split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) libc.setenv(entry.slice(0, eq), entry.slice(eq + 1));
  }
  environmentMoved = true;
}

/** Sets the title ps shows (`/proc/PID/cmdline`) and the thread name (`comm`, 15 bytes). */
export function writeProcessTitle(libc: Libc, title: string): void {
  try {
    const { argStart, argEnd, envStart, envEnd } = areas();
    if (!(argEnd > argStart)) return;
    const bytes = new TextEncoder().encode(title);
    // The kernel follows a title into the environment area only when that area comes right after.
    const roomy = bytes.length >= argEnd - argStart && envStart === argEnd && envEnd > envStart;
    if (roomy) moveEnvironment(libc);
    const area = libc.memory(argStart, (roomy ? envEnd : argEnd) - argStart);
    area.fill(0);
    area.set(bytes.subarray(0, area.length - 1));
    libc.setThreadName(title.slice(0, 15));
  } catch {
    // A cosmetic feature: never fail over it.
  }
}
