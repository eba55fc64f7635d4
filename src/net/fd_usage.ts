// How many fds this process has open and may have (Linux /proc): the numbers an fd shortage is
// judged and reported by.

import { readdirSync, readFileSync } from "node:fs";

/** fds open now (without the one that lists them); Infinity when not one more can be opened. */
export function openFds(): number {
  try {
    return readdirSync("/proc/self/fd").length - 1;
  } catch {
    return Infinity;
  }
}

/** RLIMIT_NOFILE's soft limit, as the runtime raised it at start; Infinity when unlimited. */
export function fdLimit(): number {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const m = /^Max open files\s+(\S+)/m.exec(limits);
  return m === null || m[1] === "unlimited" ? Infinity : Number(m[1]);
}
