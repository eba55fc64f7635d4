/// <reference types="npm:bun-types@1.4.4" />
// The binary's own preload (Makefile: --compile-exec-argv), which Bun runs in each of its
// processes before the modules BUN_OPTIONS preloads (`--preload`, `-r`, `--import`). The
// binary honours BUN_OPTIONS, as `bun` does: the master would run the user's preloads (app
// code, as root before the privilege drop) and carry their globals and plugins for its life.
// A master started with BUN_OPTIONS starts again in this process (same pid, argv and
// environment) with it set aside in MOVED_ENV, and puts it back in process.env at once, where
// Bun reads it no more: its workers, and a new master after USR2, inherit it as ever.

import { dlopen, FFIType, ptr } from "bun:ffi";
import { readFileSync } from "node:fs";
import process from "node:process";
import { ExitCode } from "../exit_codes.ts";
import { LIBC_PATH } from "./_libc_symbols.ts";

const OPTIONS_ENV = "BUN_OPTIONS";
const MOVED_ENV = "APPSERVE_BUN_OPTIONS";
// ROLE_ENV of src/ipc/messages.ts, which this layer cannot import: a worker keeps BUN_OPTIONS.
const WORKER = ["APPSERVE_ROLE", "worker"];

/** The NUL-terminated strings of a /proc/self file, as bytes (not necessarily UTF-8). */
function strings(file: string): Buffer[] {
  const bytes = readFileSync(file);
  const out: Buffer[] = [];
  for (let start = 0; start < bytes.length;) {
    const end = bytes.indexOf(0, start);
    out.push(bytes.subarray(start, end + 1));
    start = end + 1;
  }
  return out;
}

/** A NULL-terminated table of pointers to `items`, which must stay alive while it is used. */
function table(items: Buffer[]): BigUint64Array {
  const pointers = new BigUint64Array(items.length + 1);
  items.forEach((item, i) => pointers[i] = BigInt(ptr(item)));
  return pointers;
}

/** execve(2) of this program with BUN_OPTIONS renamed MOVED_ENV; returns only when it failed. */
function startAgainWithout(): number {
  const prefix = Buffer.from(`${OPTIONS_ENV}=`);
  const env = strings("/proc/self/environ").map((entry) =>
    entry.subarray(0, prefix.length).equals(prefix)
      ? Buffer.concat([Buffer.from(`${MOVED_ENV}=`), entry.subarray(prefix.length)])
      : entry
  );
  const argv = strings("/proc/self/cmdline");
  const { symbols } = dlopen(LIBC_PATH, {
    execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  });
  const path = Buffer.from("/proc/self/exe\0");
  return symbols.execve(path, table(argv), table(env));
}

const env = process.env;
if (env[MOVED_ENV] !== undefined) {
  env[OPTIONS_ENV] = env[MOVED_ENV];
  delete env[MOVED_ENV];
} else if (env[OPTIONS_ENV]?.trim() && env[WORKER[0]] !== WORKER[1]) {
  startAgainWithout();
  // Only when execve failed; the user's preloads have not run yet.
  process.stderr.write(
    `[${process.pid}] [ERROR] Cannot start the master without ${OPTIONS_ENV} (its preloads ` +
      `would run in the master): execve failed; run it with ${OPTIONS_ENV} unset\n`,
  );
  process.exit(ExitCode.CONFIG_ERROR);
}
