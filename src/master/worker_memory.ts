// --max-worker-memory: a worker's resident memory, read from /proc by the master (so a worker
// whose event loop is stuck or whose app leaks cannot under-report it), and the lines about it.

import { readFileSync } from "node:fs";

const MB = 1024 * 1024;

/** Resident memory (VmRSS) of process `pid` in bytes; undefined when it cannot be read. */
export function residentBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined; // Gone already, or no /proc: its exit or nothing follows.
  }
}

/** Whether `bytes` exceed `limitMb` megabytes (0: no limit). */
export function overLimit(bytes: number | undefined, limitMb: number): bytes is number {
  return limitMb > 0 && bytes !== undefined && bytes > limitMb * MB;
}

/** The INFO line of a worker retired for its memory. */
export function recycleLine(pid: number, bytes: number, limitMb: number): string {
  return `Autorestarting worker (pid:${pid}): ${megabytes(bytes)} MB resident, ` +
    `over max_worker_memory ${limitMb} MB`;
}

/** Why a limit below a freshly booted worker's memory cannot work (every worker would retire). */
export function limitTooLow(bytes: number, limitMb: number): string {
  return `--max-worker-memory ${limitMb} MB is below what a worker uses right after it boots ` +
    `(${megabytes(bytes)} MB resident): raise it, or 0 to turn it off`;
}

/**
 * The ERROR line of a replacement worker that booted over the limit while the server runs: the
 * server serves on (stopping it for one worker would stop the healthy ones too), and that worker
 * is not retired for its memory until it was seen under the limit (its replacement would boot as
 * big, and so on in a loop).
 */
export function bootedOverLimit(pid: number, bytes: number, limitMb: number): string {
  return `Worker (pid:${pid}) uses ${megabytes(bytes)} MB resident right after it boots, over ` +
    `--max-worker-memory ${limitMb} MB: it serves on and is not restarted for its memory ` +
    "until it has been under the limit once (a replacement would boot as big); raise the " +
    "limit, or 0 to turn it off";
}

function megabytes(bytes: number): string {
  return (bytes / MB).toFixed(1);
}
