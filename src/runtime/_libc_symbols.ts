// The libc symbols both FFI implementations bind, declared once in Deno's
// notation; bun.ts maps the type names onto bun:ffi's.

import type { Libc } from "./types.ts";

export const LIBC_PATH = "libc.so.6";

export const LIBC_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  dup: { parameters: ["i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  setgroups: { parameters: ["u32", "buffer"], result: "i32" },
  setgid: { parameters: ["u32"], result: "i32" },
  setuid: { parameters: ["u32"], result: "i32" },
  umask: { parameters: ["u32"], result: "u32" },
  setenv: { parameters: ["buffer", "buffer", "i32"], result: "i32" },
  prctl: { parameters: ["i32", "buffer", "u64", "u64", "u64"], result: "i32" },
} as const;

const PR_SET_NAME = 15;
const cString = (text: string) => new TextEncoder().encode(`${text}\0`);

/** The bound symbols, as either FFI hands them out (numbers in, numbers out). */
// deno-lint-ignore no-explicit-any
type Symbols = Record<keyof typeof LIBC_SYMBOLS, (...args: any[]) => any>;

/**
 * The Libc over bound symbols; only reading errno and C strings (pointers)
 * differs between the two FFIs, so the caller supplies those.
 */
export function libcOver(
  s: Symbols,
  pointers: Pick<Libc, "errno" | "strerror" | "memory">,
): Libc {
  return {
    socket: (d, t, p) => s.socket(d, t, p),
    setsockopt: (fd, level, name, value) => s.setsockopt(fd, level, name, value, value.length),
    getsockopt: (fd, level, name, value, len) => s.getsockopt(fd, level, name, value, len),
    bind: (fd, addr) => s.bind(fd, addr, addr.length),
    connect: (fd, addr) => s.connect(fd, addr, addr.length),
    listen: (fd, backlog) => s.listen(fd, backlog),
    getsockname: (fd, addr, len) => s.getsockname(fd, addr, len),
    close: (fd) => s.close(fd),
    fcntl: (fd, command, arg) => s.fcntl(fd, command, arg),
    setgroups: (gids) => s.setgroups(gids.length, new Uint32Array(gids)),
    setgid: (gid) => s.setgid(gid),
    setuid: (uid) => s.setuid(uid),
    umask: (mask) => s.umask(mask),
    dup2: (fd, target) => s.dup2(fd, target),
    dup: (fd) => s.dup(fd),
    write: (fd, bytes) => s.write(fd, bytes, bytes.length),
    shutdown: (fd, how) => s.shutdown(fd, how),
    setenv: (name, value) => s.setenv(cString(name), cString(value), 1),
    setThreadName: (name) => s.prctl(PR_SET_NAME, cString(name), 0, 0, 0),
    ...pointers,
  };
}

/** Wraps a loader so the library is opened on first use only, not on every call. */
export function once<T>(load: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= load());
}
