/// <reference types="npm:bun-types@1.4.4" />
// The binary's own preload (Makefile: --compile-exec-argv), which Bun runs in each of its
// processes before the modules BUN_OPTIONS preloads (`--preload`, `-r`, `--import`) and the one
// BUN_INSPECT_PRELOAD names. The binary honours both, as `bun` does: the master would run the
// user's preloads (app code, as root before the privilege drop) and carry their globals and
// plugins for its life. A master started with either starts again in this process (same pid,
// argv and environment) with them set aside under other names, and puts them back in
// process.env at once, where Bun reads them no more: its workers, and a new master after USR2,
// inherit them as ever.

import { CString, dlopen, FFIType, ptr, read } from "bun:ffi";
import { readFileSync } from "node:fs";
import process from "node:process";
import { ExitCode } from "../exit_codes.ts";
import { LIBC_PATH } from "./_libc_symbols.ts";

/** A variable Bun reads at start to run modules first, the name it is set aside under, and
 * whether its value makes Bun do anything (an empty BUN_INSPECT_PRELOAD is a module not found). */
const SET_ASIDE = [
  { name: "BUN_OPTIONS", moved: "APPSERVE_BUN_OPTIONS", acts: (value: string) => !!value.trim() },
  { name: "BUN_INSPECT_PRELOAD", moved: "APPSERVE_BUN_INSPECT_PRELOAD", acts: () => true },
];
// ROLE_ENV of src/ipc/messages.ts, spelled again: this file uses bun:ffi, allowed only in
// src/runtime, which comes before src/ipc in scripts/check_imports.ts' order
// (tests/bun_preload_test.ts pins the two equal). A worker keeps its variables.
const ROLE_ENV = "APPSERVE_ROLE";

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

/** execve(2) of this program with each SET_ASIDE variable renamed; returns only when it failed,
 * with strerror of its errno. */
function startAgainWithout(): string {
  const renames = SET_ASIDE.map(({ name, moved }) => ({
    prefix: Buffer.from(`${name}=`),
    moved: Buffer.from(`${moved}=`),
  }));
  const env = strings("/proc/self/environ").map((entry) => {
    const rename = renames.find(({ prefix }) => entry.subarray(0, prefix.length).equals(prefix));
    return rename ? Buffer.concat([rename.moved, entry.subarray(rename.prefix.length)]) : entry;
  });
  const argv = strings("/proc/self/cmdline");
  const { symbols } = dlopen(LIBC_PATH, {
    execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
    strerror: { args: [FFIType.i32], returns: FFIType.ptr },
  });
  const path = Buffer.from("/proc/self/exe\0");
  symbols.execve(path, table(argv), table(env));
  const errno = read.i32(symbols.__errno_location()!, 0);
  return new CString(symbols.strerror(errno)!).toString();
}

const env = process.env;
const restored = SET_ASIDE.filter(({ moved }) => env[moved] !== undefined);
if (restored.length) {
  for (const { name, moved } of restored) {
    env[name] = env[moved];
    delete env[moved];
  }
} else if (
  env[ROLE_ENV] !== "worker" &&
  SET_ASIDE.some(({ name, acts }) => env[name] !== undefined && acts(env[name]))
) {
  const reason = startAgainWithout();
  // Only when execve failed; the user's preloads have not run yet. One line, as the CLI's other
  // start-up errors (run_cli.ts' runCommandLine).
  const names = SET_ASIDE.filter(({ name }) => env[name] !== undefined).map(({ name }) => name);
  const list = names.join(" and ");
  // BUN_INSPECT_PRELOAD names one module, BUN_OPTIONS any number.
  const what = names.length > 1
    ? "their preloads"
    : names[0] === "BUN_OPTIONS"
    ? "its preloads"
    : "its preload";
  process.stderr.write(
    `Error: Cannot start the master again without ${list} (${what} would run in the master): ` +
      `execve: ${reason}; run it with ${list} unset\n`,
  );
  process.exit(ExitCode.CONFIG_ERROR);
}
