// What ps shows, the way setproctitle (gunicorn's) does it, for both runtimes:
// the title is written over the argv area, and when that is shorter than the
// title, on over the environment area that follows it (whose strings libc's
// `environ` still points at are first copied to libc's heap, so getenv and
// child processes keep working). The kernel then reads /proc/PID/cmdline up to
// the title's NUL. Deno's process.title (and Bun's, which changes nothing) stop
// at the argv area, which for `appserve mod` is 13 bytes: "appserve: ma".

import { readFileSync } from "node:fs";
import type { Libc } from "./types.ts";

/** The argv and environment areas of this process (fields 48-51 of /proc/self/stat). */
function areas(): { argStart: number; argEnd: number; envStart: number; envEnd: number } {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const [argStart, argEnd, envStart, envEnd] = [45, 46, 47, 48].map((i) => Number(fields[i]));
  return { argStart, argEnd, envStart, envEnd };
}

// 64-bit little-endian (x86-64, aarch64): the Linux targets Deno and Bun ship for.
const POINTER_BYTES = 8;

function pointerSlot(libc: Libc, address: number): DataView {
  const bytes = libc.memory(address, POINTER_BYTES);
  return new DataView(bytes.buffer, bytes.byteOffset, POINTER_BYTES);
}

/**
 * Re-points every entry of libc's `environ` that still lies in [start, end) at a
 * byte-for-byte copy (setproctitle's move). Only live entries move: a variable
 * the process deleted stays deleted, one it changed already lives elsewhere,
 * and no text is decoded. Returns whether nothing in the area is read any more;
 * once moved, a second call finds nothing to do.
 */
function moveEnvironment(libc: Libc, start: number, end: number): boolean {
  const environ = libc.symbolAddress("environ");
  if (!environ) return false;
  const array = Number(pointerSlot(libc, environ).getBigUint64(0, true));
  for (let address = array;; address += POINTER_BYTES) {
    const slot = pointerSlot(libc, address);
    const entry = Number(slot.getBigUint64(0, true));
    if (entry === 0) return true;
    if (entry < start || entry >= end) continue;
    const copy = libc.copyString(entry);
    if (!copy) return false;
    slot.setBigUint64(0, BigInt(copy), true);
  }
}

/** Sets the title ps shows (`/proc/PID/cmdline`) and the thread name (`comm`, 15 bytes). */
export function writeProcessTitle(libc: Libc, title: string): void {
  try {
    const { argStart, argEnd, envStart, envEnd } = areas();
    if (!(argEnd > argStart)) return;
    const bytes = new TextEncoder().encode(title);
    // The kernel follows a title into the environment area only when that area comes right after.
    const roomy = bytes.length >= argEnd - argStart && envStart === argEnd && envEnd > envStart &&
      moveEnvironment(libc, envStart, envEnd);
    const area = libc.memory(argStart, (roomy ? envEnd : argEnd) - argStart);
    area.fill(0);
    area.set(bytes.subarray(0, area.length - 1));
    libc.setThreadName(title.slice(0, 15));
  } catch {
    // A cosmetic feature: never fail over it.
  }
}
